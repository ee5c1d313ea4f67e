"""The peers' side of `python -m loadtests bench --peers ...`: each peer installed (once), started in each of its
modes, checked against the model in-process, the better mode kept, then loaded with wrk at every connection
count, alternating with the stack's own runs so that drift on the machine hits both alike."""

from __future__ import annotations

import json
import math
import sys
from argparse import Namespace
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from loadtests import wrk
from loadtests.peers import bodies, processes, venvs
from loadtests.peers.apps.tensor_model import TensorModel
from loadtests.peers.peer import Launch, Peer, Route
from loadtests.stack import free_ports
from loadtests.wrk import WrkResult

TOLERANCE = 1e-5  # the export's own eager/TorchScript parity bound (metrics.json)


class PeerMismatch(RuntimeError):
    """A peer answered the bench's request with other probabilities than the model in-process."""


@dataclass
class PeerRun:
    """One peer route on one model: the winning mode, what each mode served, and the server's footprint."""

    peer: str
    title: str
    route: str
    mode: str = ""
    mode_trials: dict[str, float] = field(default_factory=dict)  # mode → req/s at the trial's connections
    ready_s: float = 0.0
    pss_mib: float = 0.0
    processes: int = 0
    results: dict[int, WrkResult] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """`peer` or `peer route` where a peer has more than one route."""
        return self.peer if self.route in ("json", "") else f"{self.peer} {self.route}"


def python_for(peer: Peer, log: Callable[[str], None] = print) -> Path:
    """The python that runs the peer: its own venv's (made once), or the project's for TorchServe."""
    return venvs.ensure(peer.name, peer.requirements, log) if peer.requirements else Path(sys.executable)


def launch(peer: Peer, python: Path, model_dir: Path, mode: str, work: Path) -> Launch:
    """A start of `peer` on free ports."""
    return Launch(python, model_dir, mode, work, tuple(free_ports(peer.ports)))


def expected(route: Route, model_dir: Path) -> list[list[float]]:
    """The probabilities the model in-process gives for the route's request."""
    if route.body == "handler-v1":
        from loadtests.inprocess import InProcessModel  # TorchServe's handler, run here as its worker runs it

        answer = json.loads(InProcessModel(model_dir).answer([route.request(model_dir)])[0])
        return [answer["probabilities"]]
    return TensorModel(str(model_dir / "model.pt")).predict(bodies.example_tensor(model_dir))


def check(started: processes.Started, route: Route) -> list[list[float]]:
    """The peer's answer on `route`, which must be 200 with the in-process probabilities; PeerMismatch if not."""
    model_dir = started.launch.model_dir
    reply = processes.answer(started, route, route.request(model_dir))
    if reply.status_code != 200:
        raise PeerMismatch(f"{route.label} of {model_dir.name}: {reply.status_code} {reply.text[:300]}")
    got, want = route.answer(reply.json()), expected(route, model_dir)
    close = len(got) == len(want) and all(
        len(g) == len(w) and all(math.isclose(a, b, abs_tol=TOLERANCE) for a, b in zip(g, w, strict=True))
        for g, w in zip(got, want, strict=True))
    if not close:
        raise PeerMismatch(f"{route.label} of {model_dir.name}: {got} instead of {want}")
    return got


def scripts(started: processes.Started, peer: Peer, work: Path) -> list[tuple[Route, str, Path]]:
    """(route, URL, wrk script) for each route of a started peer."""
    out = []
    for route in peer.routes:
        token = route.headers(started.launch).get("Authorization", "").removeprefix("Bearer ") or None
        lua = wrk.script(work, f"{peer.name}-{started.launch.model}-{route.label}", route.request(
            started.launch.model_dir), "application/json", token)
        out.append((route, started.base_url + route.path(started.launch.model), lua))
    return out


def measure(peer: Peer, model_dir: Path, args: Namespace, work: Path, log: Callable[[str], None],
            between: Callable[[int], None]) -> list[PeerRun]:
    """The peer on one model: each mode tried (where it has two), the better one loaded at every connection count.
    `between(connections)` runs the stack once after each round of the peer's runs."""
    python = python_for(peer, log)
    runs = [PeerRun(peer.name, peer.title, route.label) for route in peer.routes]
    trial = 16 if 16 in args.connections else max(args.connections)
    for mode in peer.modes if len(peer.modes) > 1 else ():
        with processes.started(peer, launch(peer, python, model_dir, mode, work)) as started:
            for run, (route, url, lua) in zip(runs, scripts(started, peer, work), strict=True):
                check(started, route)
                run.mode_trials[mode] = wrk.run(url, lua, trial, args.seconds, threads=2).requests_per_s
        log(f"{peer.name} {model_dir.name} {mode}: {runs[0].mode_trials[mode]:.0f} req/s at {trial} connections")
    best = max(peer.modes, key=lambda mode: runs[0].mode_trials.get(mode, 0.0))
    with processes.started(peer, launch(peer, python, model_dir, best, work)) as started:
        targets = scripts(started, peer, work)
        for route, _, _ in targets:
            check(started, route)
        for connections in args.connections:
            rounds: list[list[WrkResult]] = [[] for _ in runs]
            for _ in range(args.repeats):
                for done, (_, url, lua) in zip(rounds, targets, strict=True):
                    done.append(wrk.run(url, lua, connections, args.seconds, threads=2))
                between(connections)
            for run, done in zip(runs, rounds, strict=True):
                run.results[connections] = wrk.median(done)
        pss, count = processes.footprint(started)  # after the load: the steady state
    for run in runs:
        run.mode, run.ready_s, run.pss_mib, run.processes = best, started.ready_s, pss, count
    log(f"{peer.name} {model_dir.name} ({best}): " + ", ".join(
        f"{run.label} {run.results[c].requests_per_s:.0f} req/s at {c}" for run in runs for c in args.connections))
    return runs


def comparable(model_dir: Path) -> bool:
    """Whether the peers can serve the model: one FP32 input tensor and a `probabilities` output (the classifiers)."""
    signature = bodies.signature(model_dir)
    return (len(signature["inputs"]) == 1 and signature["inputs"][0]["dtype"] == "float32"
            and any(o["name"] == "probabilities" for o in signature["outputs"]) and "example" in signature)
