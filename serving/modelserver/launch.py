"""Prepare a TorchServe working directory and run the `torchserve` launcher in it.

The launcher (`torchserve --start`) spawns the JVM and returns at once; the JVM keeps running. Its pid file goes
to `$TMPDIR/.model_server.pid` and its key file to the working directory, so both are pinned to `ts_home`.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from serving.modelserver import log_config, properties
from serving.modelserver.errors import InvalidSetup, ModelServerError
from serving.modelserver.logs import tail
from serving.modelserver.paths import ServerPaths
from serving.modelserver.settings import ModelServerSettings

_LAUNCHER_TIMEOUT_S = 120  # the launcher itself only starts the JVM or signals it


def launcher_command() -> list[str]:
    """`torchserve` of this interpreter's environment (the JVM starts its workers with the same Python)."""
    script = Path(sys.executable).with_name("torchserve")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "ts.model_server"]


def environment(paths: ServerPaths, java_home: Path | None = None) -> dict[str, str]:
    """The launcher's environment: this one, with Java (when starting), log and temp locations pinned to `paths`."""
    env = dict(os.environ)
    # Both the launcher and the JVM let TS_CONFIG_FILE override --ts-config; only the rendered file may count.
    env.pop("TS_CONFIG_FILE", None)
    if java_home is not None:
        env["JAVA_HOME"] = str(java_home)
    env.update({
        "LOG_LOCATION": str(paths.logs),
        "METRICS_LOCATION": str(paths.logs),
        "TMPDIR": str(paths.tmp),  # the launcher's pid file, the workers' temp files
        "TEMP": str(paths.tmp),  # the launcher passes it on as -Djava.io.tmpdir: the workers' sockets
    })
    return env


def check_ports_free(settings: ModelServerSettings) -> None:
    """InvalidSetup naming the first port another process listens on.

    SO_REUSEADDR as the JVM sets it, so connections lingering in TIME_WAIT do not count as "in use".
    """
    for name, port in settings.ports().items():
        family, kind, proto, _, address = socket.getaddrinfo(settings.ts_bind_host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError:
                raise InvalidSetup(f"port {port} ({name}) on {settings.ts_bind_host} is already in use") from None


def prepare_home(settings: ModelServerSettings, paths: ServerPaths) -> None:
    """Create `ts_home` (private: it holds the API keys), write config.properties, drop stale run files."""
    paths.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    paths.logs.mkdir(exist_ok=True)
    paths.tmp.mkdir(exist_ok=True)
    for stale in (paths.key_file, paths.pid_file, paths.launcher_pid_file):
        stale.unlink(missing_ok=True)
    paths.config_file.write_text(properties.render(settings), encoding="utf-8")
    paths.log_config.write_text(log_config.render(settings), encoding="utf-8")


def run_launcher(paths: ServerPaths, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[bytes]:
    """Run `torchserve ARGS` in `ts_home`; its output, and the JVM's that inherits it, go to console.log.

    A new session keeps the JVM out of our process group: a Ctrl-C meant for a later command in the same
    terminal must not kill the server.
    """
    with paths.console_log.open("ab") as console:
        return subprocess.run([*launcher_command(), *args], cwd=paths.home, env=env, stdin=subprocess.DEVNULL,
                              stdout=console, stderr=subprocess.STDOUT, timeout=_LAUNCHER_TIMEOUT_S,
                              start_new_session=True, check=False)


def launch(settings: ModelServerSettings, paths: ServerPaths, java_home: Path) -> None:
    """Start the JVM with the rendered config; ModelServerError when the launcher refuses."""
    store = settings.ts_model_store.expanduser().resolve()
    result = run_launcher(paths, environment(paths, java_home), "--start", "--ncs",
                          "--ts-config", str(paths.config_file), "--log-config", str(paths.log_config),
                          "--model-store", str(store))
    if result.returncode != 0 or not paths.launcher_pid_file.is_file():
        console = paths.console_log.read_text(encoding="utf-8", errors="replace")
        raise ModelServerError(f"`torchserve --start` failed with exit code {result.returncode}.\n{tail(console)}")
    paths.pid_file.write_text(paths.launcher_pid_file.read_text(encoding="ascii"), encoding="ascii")
