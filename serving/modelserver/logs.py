"""The tails of TorchServe's logs, quoted in error messages so a failed start explains itself."""

from __future__ import annotations

from pathlib import Path

from serving.modelserver.paths import ServerPaths

TAIL_LINES = 40
# ts_log: the frontend (ports, registration, worker restarts); model_log: the handler's own tracebacks.
LOG_FILES = ("ts_log.log", "model_log.log")
# The readiness probes poll every half second and each leaves an access line in ts_log.log; quoted, they
# would push the lines that explain a failure out of the tail.
_NOISE = " ACCESS_LOG - "
_TAIL_BYTES = 256 * 1024  # enough for 40 lines of stack trace even among access lines; logs grow to megabytes


def tail(text: str, lines: int = TAIL_LINES) -> str:
    """The last `lines` lines of `text` that are not access-log lines."""
    return "\n".join([line for line in text.splitlines() if _NOISE not in line][-lines:])


def _read_end(path: Path) -> str:
    with path.open("rb") as handle:
        handle.seek(max(0, path.stat().st_size - _TAIL_BYTES))
        return handle.read().decode("utf-8", errors="replace")


def log_tails(paths: ServerPaths, lines: int = TAIL_LINES) -> str:
    """A block quoting the last lines of each log that exists, or a note that none does.

    The JVM's console output repeats ts_log.log, so it is quoted only when ts_log.log is empty: then it holds
    the only trace of a Java that failed before logging started.
    """
    blocks = []
    for path in [paths.logs / name for name in LOG_FILES]:
        text = tail(_read_end(path), lines) if path.is_file() else ""
        if text.strip():
            blocks.append(f"--- {path} (last {lines} lines) ---\n{text}")
    if not blocks and paths.console_log.is_file() and (text := tail(_read_end(paths.console_log), lines)).strip():
        blocks.append(f"--- {paths.console_log} (last {lines} lines) ---\n{text}")
    return "\n".join(blocks) if blocks else f"(no logs in {paths.logs})"
