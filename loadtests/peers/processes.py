"""A peer's server as a process tree of its own: started in a new session, ready once it answers the bench's
request, measured (PSS summed over every process, the count), and stopped by its own process ids, never by name."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from loadtests.peers.peer import Launch, Peer, Route

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Started:
    """A running peer: its leader process, where it listens and how long it took to answer its first request."""

    process: subprocess.Popen[bytes]
    launch: Launch
    ready_s: float
    roots: tuple[int, ...] = ()  # the peer's processes outside the leader's tree and session

    @property
    def base_url(self) -> str:
        """http://127.0.0.1:<its HTTP port>."""
        return f"http://127.0.0.1:{self.launch.ports[0]}"


def tree(pid: int, roots: tuple[int, ...] = ()) -> list[psutil.Process]:
    """The leader, its descendants, every process still in its session (daemons that left their parent), and the
    given other roots with their descendants."""
    found: dict[int, psutil.Process] = {}
    for root in (pid, *roots):
        with contextlib.suppress(psutil.NoSuchProcess):
            leader = psutil.Process(root)
            found |= {p.pid: p for p in [leader, *leader.children(recursive=True)]}
    for process in psutil.process_iter():
        with contextlib.suppress(OSError, psutil.Error):
            if os.getsid(process.pid) == pid:
                found.setdefault(process.pid, process)
    return list(found.values())


def footprint(started: Started) -> tuple[float, int]:
    """(PSS in MiB summed over the server's tree, how many processes): shared pages counted once across them."""
    pss, count = 0, 0
    for process in tree(started.process.pid, started.roots):
        with contextlib.suppress(psutil.Error):
            pss += process.memory_full_info().pss
            count += 1
    return pss / 2**20, count


def answer(started: Started, route: Route, body: bytes, timeout_s: float = 30) -> httpx.Response:
    """One request to a started peer on `route`."""
    return httpx.post(started.base_url + route.path(started.launch.model), content=body, timeout=timeout_s,
                      headers={"Content-Type": "application/json", **route.headers(started.launch)})


def environment(peer: Peer, launch: Launch) -> dict[str, str]:
    """The parent's environment without its venv, with the repository importable and telemetry off."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONHOME")}
    path = f"{launch.python.parent}:{env.get('PATH', '')}"
    return {**env, **launch.env(), **peer.env(launch), "PYTHONPATH": str(ROOT), "PATH": path,
            "BENTOML_DO_NOT_TRACK": "true", "RAY_USAGE_STATS_ENABLED": "0", "PYTHONUNBUFFERED": "1"}


@contextmanager
def started(peer: Peer, launch: Launch, timeout_s: float = 300) -> Iterator[Started]:
    """The peer in `launch.mode`, up once its first route answers the model's request with 200; stopped at exit."""
    launch.work.mkdir(parents=True, exist_ok=True)
    peer.prepare(launch)
    log = launch.work / f"{peer.name}-{launch.model}-{launch.mode}.log"
    begin = time.monotonic()
    with log.open("wb") as sink:
        process = subprocess.Popen(peer.launcher(launch), env=environment(peer, launch), stdout=sink,
                                   stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True)
    try:
        ready = _until_ready(Started(process, launch, 0.0), peer.routes[0], log, begin + timeout_s)
        roots = tuple(peer.roots(launch))
        yield Started(process, launch, ready - begin, roots)
    finally:
        stop(process, peer.stop_grace_s, roots if "roots" in locals() else ())


def _until_ready(peer: Started, route: Route, log: Path, deadline: float) -> float:
    body = route.request(peer.launch.model_dir)
    while True:
        if peer.process.poll() is not None:
            raise RuntimeError(f"{peer.process.args!r} exited with {peer.process.returncode}: "
                               f"{log.read_text(errors='replace')[-3000:]}")
        with contextlib.suppress(httpx.TransportError, FileNotFoundError):
            if answer(peer, route, body, timeout_s=5).status_code == 200:
                return time.monotonic()
        if time.monotonic() > deadline:
            raise RuntimeError(f"{peer.process.args!r} did not answer in time: "
                               f"{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.25)


def stop(process: subprocess.Popen[bytes], grace_s: float, roots: tuple[int, ...] = ()) -> None:
    """SIGTERM to the leader (each peer's own shutdown), then SIGKILL to every process of its tree still alive."""
    members = tree(process.pid, roots)
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace_s)
    survivors = {p.pid: p for p in members + tree(process.pid, roots) if p.pid != process.pid}
    _, alive = psutil.wait_procs(list(survivors.values()), timeout=5)
    for member in alive:
        with contextlib.suppress(psutil.Error):
            member.kill()
    psutil.wait_procs(alive, timeout=5)
    with contextlib.suppress(ProcessLookupError):
        process.kill()
    process.wait()
