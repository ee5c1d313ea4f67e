"""What the bench knows about a peer: how to install it, start it in each of its modes, and call it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadtests.peers import bodies

Launcher = Callable[["Launch"], list[str]]


@dataclass(frozen=True)
class Launch:
    """One start of a peer: its python, the model, the mode, where it may write, and the ports it gets."""

    python: Path
    model_dir: Path
    mode: str
    work: Path
    ports: tuple[int, ...]

    @property
    def model(self) -> str:
        """The model's name (the artifact folder's)."""
        return self.model_dir.name

    def env(self) -> dict[str, str]:
        """What every app reads: the TorchScript file, the model's name and the mode."""
        return {"PEER_MODEL_PATH": str((self.model_dir / "model.pt").resolve()), "PEER_MODEL_NAME": self.model,
                "PEER_MODE": self.mode}


@dataclass(frozen=True)
class Route:
    """One way of calling a started peer: the URL path, the request body kind, where the answer's rows are."""

    label: str
    path: Callable[[str], str]  # model name → URL path
    body: str  # a kind in bodies.BODIES
    answer: Callable[[Any], list[list[float]]]  # parsed JSON answer → rows of probabilities
    headers: Callable[[Launch], dict[str, str]] = field(default=lambda launch: {})

    def request(self, model_dir: Path) -> bytes:
        """The request body this route gets for the model."""
        return bodies.BODIES[self.body](model_dir)


@dataclass(frozen=True)
class Peer:
    """A model server the stack is compared with, as its own docs set it up."""

    name: str
    title: str  # name and version, for the report
    requirements: tuple[str, ...]  # its venv's pins; () runs it in the project's own venv
    modes: tuple[str, ...]  # "plain" and, where the peer batches, "batched"
    launcher: Launcher
    routes: tuple[Route, ...]
    ports: int = 1  # how many free ports a start needs; the first is the HTTP port
    stop_grace_s: float = 30  # how long SIGTERM may take before SIGKILL
    prepare: Callable[[Launch], None] = field(default=lambda launch: None)  # files to write before a start
    env: Callable[[Launch], dict[str, str]] = field(default=lambda launch: {})  # its own variables
    # processes of the server outside the leader's tree and session (TorchServe's JVM runs in a session of its own)
    roots: Callable[[Launch], list[int]] = field(default=lambda launch: [])
