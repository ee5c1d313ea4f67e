"""`python -m serving.modelserver run`: TorchServe in the foreground, as a container's main process runs it.

It is `start` (same config, same readiness wait), then it stays: TorchServe's console output is copied to
stdout (where `kubectl logs` and `docker logs` read), SIGTERM or SIGINT stops TorchServe and every worker
(exit 0), and a TorchServe that dies on its own ends the process with exit 1, so the orchestrator restarts it.
"""

from __future__ import annotations

import signal
import sys
import time
from typing import TextIO

from serving.cli import Terminated, signals_terminate
from serving.modelserver import processes
from serving.modelserver.logs import log_tails
from serving.modelserver.paths import ServerPaths
from serving.modelserver.runner import start, stop
from serving.modelserver.settings import ModelServerSettings

_POLL_S = 0.5


class ConsoleFollower:
    """Copies what TorchServe appends to its console log onto a stream, from the position it had at start."""

    def __init__(self, paths: ServerPaths, out: TextIO) -> None:
        self._path = paths.console_log
        self._out = out
        self._offset = self._path.stat().st_size if self._path.is_file() else 0

    def pump(self) -> None:
        """Copy the lines written since the last call."""
        if not self._path.is_file():
            return
        with self._path.open("rb") as handle:
            handle.seek(self._offset)
            chunk = handle.read()
        end = chunk.rfind(b"\n") + 1  # a line still being written waits for the next call
        if end:
            self._out.write(chunk[:end].decode("utf-8", errors="replace"))
            self._out.flush()
            self._offset += end


def serve(settings: ModelServerSettings, out: TextIO = sys.stdout) -> int:
    """Run TorchServe until a signal (0) or until it exits by itself (1); ModelServerError if it never got ready."""
    paths = ServerPaths.of(settings)
    handled = (signal.SIGTERM, signal.SIGINT)
    follower = ConsoleFollower(paths, out)
    with signals_terminate(*handled):
        try:  # Terminated (a BaseException) also stops a half-started server on its way out
            start(settings)
            follower.pump()
            print(f"TorchServe is ready: inference {settings.inference_url}, metrics {settings.metrics_url}",
                  file=out, flush=True)
            while processes.server_process(paths) is not None:
                follower.pump()
                time.sleep(_POLL_S)
            follower.pump()
            print(f"error: TorchServe exited on its own.\n{log_tails(paths)}", file=sys.stderr, flush=True)
            stop(settings)  # workers it left behind
            return 1
        except Terminated as received:
            for sig in handled:  # a second signal must not interrupt the orderly stop
                signal.signal(sig, signal.SIG_IGN)
            print(f"{received}: stopping TorchServe", file=out, flush=True)
            stop(settings)
            follower.pump()
            print("TorchServe stopped.", file=out, flush=True)
            return 0
