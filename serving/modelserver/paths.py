"""Where one TorchServe instance keeps its files, all under its working directory `ts_home`.

Everything that could clash between two servers on one machine lives here: TorchServe's pid file and the
workers' Unix sockets are placed in `java.io.tmpdir`/`$TMPDIR`, which the runtime points at `<ts_home>/tmp`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from serving.modelserver.settings import ModelServerSettings

# Linux limits a Unix socket path to 107 bytes; a worker's socket is `<tmp>/.ts.sock.<port>` (port ≤ 5 digits).
MAX_SOCKET_PATH = 107
SOCKET_NAME = ".ts.sock."


@dataclass(frozen=True)
class ServerPaths:
    """The files of the TorchServe instance whose working directory is `home` (an absolute path)."""

    home: Path

    @classmethod
    def of(cls, settings: ModelServerSettings) -> ServerPaths:
        """The paths for `settings.ts_home`, made absolute against the current directory."""
        return cls(settings.ts_home.expanduser().resolve())

    @property
    def config_file(self) -> Path:
        """The rendered config.properties."""
        return self.home / "config.properties"

    @property
    def log_config(self) -> Path:
        """The rendered log4j2.xml (serving/modelserver/log_config.py)."""
        return self.home / "log4j2.xml"

    @property
    def key_file(self) -> Path:
        """The API keys TorchServe writes into its working directory at start (mode 600)."""
        return self.home / "key_file.json"

    @property
    def logs(self) -> Path:
        """LOG_LOCATION and METRICS_LOCATION: ts_log.log, model_log.log, access_log.log …"""
        return self.home / "logs"

    @property
    def console_log(self) -> Path:
        """The launcher's and the JVM's stdout and stderr (errors from before logging starts land here)."""
        return self.logs / "console.log"

    @property
    def tmp(self) -> Path:
        """$TMPDIR and java.io.tmpdir: the launcher's pid file, extracted archives, the workers' sockets."""
        return self.home / "tmp"

    @property
    def launcher_pid_file(self) -> Path:
        """The pid file `torchserve --start` writes and `torchserve --stop` reads."""
        return self.tmp / ".model_server.pid"

    @property
    def pid_file(self) -> Path:
        """The Java pid as this runtime recorded it."""
        return self.home / "torchserve.pid"

    @property
    def socket_prefix(self) -> str:
        """Every worker of this server listens on a Unix socket whose path starts with this."""
        return str(self.tmp / SOCKET_NAME)

    def socket_path_fits(self) -> bool:
        """Whether the longest worker socket path stays within the Unix socket limit."""
        return len((self.socket_prefix + "65535").encode()) <= MAX_SOCKET_PATH
