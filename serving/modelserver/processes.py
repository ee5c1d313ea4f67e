"""Find and end the processes of one TorchServe: its Java frontend and every Python worker.

A process belongs to the server of a `ts_home` when its command line names that home's tmp directory: the
JVM runs with `-Djava.io.tmpdir=<ts_home>/tmp` and each worker with `--sock-name <ts_home>/tmp/.ts.sock.N`.
Checking that (not just the pid) keeps a recycled pid or another server's processes from being touched.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable

import psutil

from serving.modelserver.paths import ServerPaths

JAVA_MAIN_CLASS = "org.pytorch.serve.ModelServer"
_POLL_S = 0.2


def read_pid(path: os.PathLike[str]) -> int | None:
    """The pid in a pid file, or None when the file is missing or garbled."""
    try:
        with open(path, encoding="ascii") as handle:
            return int(handle.readline().strip())
    except (OSError, ValueError):
        return None


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return [str(part) for part in process.cmdline()]
    except psutil.Error:
        return []


def is_alive(process: psutil.Process) -> bool:
    """Running and not a zombie. A zombie that is our own child (we may be PID 1 in a container) is reaped."""
    try:
        if process.status() != psutil.STATUS_ZOMBIE:
            return bool(process.is_running())
    except psutil.Error:
        return False
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(process.pid, os.WNOHANG)
    return False


def server_process(paths: ServerPaths) -> psutil.Process | None:
    """The live Java frontend started from `paths.home`, found through either pid file."""
    marker = f"-Djava.io.tmpdir={paths.tmp}"
    for pid_file in (paths.pid_file, paths.launcher_pid_file):
        pid = read_pid(pid_file)
        if pid is None:
            continue
        try:
            process = psutil.Process(pid)
        except psutil.Error:
            continue
        cmdline = _cmdline(process)
        if JAVA_MAIN_CLASS in cmdline and marker in cmdline and is_alive(process):
            return process
    return None


def process_tree(process: psutil.Process) -> list[psutil.Process]:
    """`process` and all its descendants (taken before it dies: orphans are re-parented and lost)."""
    try:
        return [process, *process.children(recursive=True)]
    except psutil.Error:
        return [process]


def stray_workers(paths: ServerPaths) -> list[psutil.Process]:
    """Workers of this home's server that are no longer (or never were) children of its JVM."""
    found = []
    for process in psutil.process_iter():
        cmdline = _cmdline(process)
        if any(part.startswith(paths.socket_prefix) for part in cmdline) and is_alive(process):
            found.append(process)
    return found


def wait_gone(processes: Iterable[psutil.Process], timeout_s: float) -> list[psutil.Process]:
    """Wait until every process has exited; the ones still alive after `timeout_s`."""
    alive = [p for p in processes if is_alive(p)]
    deadline = time.monotonic() + timeout_s
    while alive and time.monotonic() < deadline:
        time.sleep(_POLL_S)
        alive = [p for p in alive if is_alive(p)]
    return alive


def kill_all(processes: Iterable[psutil.Process], timeout_s: float = 10) -> list[psutil.Process]:
    """SIGKILL each process and wait; the ones that still exist (only a stuck kernel call keeps them)."""
    targets = list(processes)
    for process in targets:
        with contextlib.suppress(psutil.Error):
            process.kill()
    return wait_gone(targets, timeout_s)
