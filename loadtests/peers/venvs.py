"""Each peer's own venv under the bench's cache, created once and reused: the peers are never project dependencies.

uv installs them, with hard links from its cache, so the six venvs share one copy of torch on disk (a torch venv
is about 5 GB). uv itself is bootstrapped into a small venv of its own with pip, the way pip is set up on this
machine (its find-links and extra indexes, where torch 2.14.1 lies, are passed on to uv).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

TORCH = "torch==2.14.1"
STAMP = "requirements.txt"  # written last: a venv without it is half-built and is made again


def cache_dir() -> Path:
    """The bench's cache: LOADTEST_CACHE, else $XDG_CACHE_HOME (or ~/.cache)/torchserve-stack/bench."""
    if os.environ.get("LOADTEST_CACHE"):
        return Path(os.environ["LOADTEST_CACHE"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "torchserve-stack" / "bench"


def uv_binary(cache: Path) -> Path:
    """uv from PATH, else from the cache's own uv venv (made here with pip on first use)."""
    found = shutil.which("uv")
    if found:
        return Path(found)
    venv = cache / "uv"
    binary = venv / "bin" / "uv"
    if not binary.is_file():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "uv>=0.5"], check=True)
    return binary


def pip_sources() -> list[str]:
    """pip's own find-links and extra indexes as uv options (uv does not read pip.conf)."""
    options: list[str] = []
    for key, flag in (("find-links", "--find-links"), ("extra-index-url", "--extra-index-url")):
        found = subprocess.run([sys.executable, "-m", "pip", "config", "get", f"global.{key}"], capture_output=True,
                               text=True, check=False).stdout.split()
        found += os.environ.get(f"PIP_{key.upper().replace('-', '_')}", "").split()
        for source in dict.fromkeys(found):
            options += [flag, source]
    return options


def requirements_text(requirements: tuple[str, ...]) -> str:
    """The pinned list a peer's venv is made from (torch first: every peer serves the same torch)."""
    return "\n".join((TORCH, *requirements)) + "\n"


def venv_dir(cache: Path, peer: str, requirements: tuple[str, ...]) -> Path:
    """Where this peer's venv for exactly these requirements lives (a changed pin makes a new one)."""
    digest = hashlib.sha256(requirements_text(requirements).encode()).hexdigest()[:10]
    return cache / "venvs" / f"{peer}-{digest}"


def ensure(peer: str, requirements: tuple[str, ...], log: Callable[[str], None] = print) -> Path:
    """The python of the peer's venv, made first if it is missing or half-built."""
    cache = cache_dir()
    venv = venv_dir(cache, peer, requirements)
    python = venv / "bin" / "python"
    if (venv / STAMP).is_file():
        return python
    log(f"creating the {peer} venv in {venv} (once)")
    shutil.rmtree(venv, ignore_errors=True)
    uv = uv_binary(cache)
    env = {**os.environ, "UV_CACHE_DIR": str(cache / "uv-cache"), "UV_LINK_MODE": "hardlink"}
    subprocess.run([str(uv), "venv", "--quiet", "--python", sys.executable, str(venv)], check=True, env=env)
    (venv / "requested.txt").write_text(requirements_text(requirements), encoding="utf-8")
    subprocess.run([str(uv), "pip", "install", "--quiet", "--python", str(python), "--index-strategy",
                    "unsafe-best-match", *pip_sources(), "-r", str(venv / "requested.txt")], check=True, env=env)
    (venv / STAMP).write_text(requirements_text(requirements), encoding="utf-8")
    return python
