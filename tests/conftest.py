"""Test tiers by folder (unit, integration, e2e), marked automatically; shared fixtures."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import settings

# Fuzz tests explore new inputs on every local run; in CI they replay the same derandomised examples, so a change
# lands or not on its own merit. A failure found locally is then fixed and pinned with @example.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "artifacts"
TIERS = ("unit", "integration", "e2e")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.fspath)).relative_to(ROOT / "tests").parts
        if parts and parts[0] in TIERS:
            item.add_marker(getattr(pytest.mark, parts[0]))


def run_cli(*args: str, cwd: Path = ROOT, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """Run `python -m training ARGS` as a user would, capturing its output."""
    return subprocess.run([sys.executable, "-m", "training", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, check=False)


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """The quick-profile artifacts of every curriculum model, trained by the CLI where any are missing."""
    result = run_cli("train", "--missing", "--quiet", "--artifacts", str(ARTIFACTS), timeout=1500)
    assert result.returncode == 0, f"training failed:\n{result.stdout}\n{result.stderr[-3000:]}"
    return ARTIFACTS


@pytest.fixture
def anyio_backend() -> str:
    """The event loop the async tests (`pytest.mark.anyio`) run on: asyncio, the one uvicorn serves the gateway on."""
    return "asyncio"
