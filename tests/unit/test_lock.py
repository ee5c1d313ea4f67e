"""requirements.lock matches pyproject.toml: resolved from its current dependency tables (the digest in its
header) and pinning every direct requirement inside its specifier. No network: nothing is resolved again."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "docker"))
import lock  # noqa: E402  (docker/ is a folder of scripts, not a package)


def test_the_lock_matches_pyproject() -> None:
    assert lock.problems() == []
    pins = lock.locked_versions()
    assert (pins["torch"], pins["torchserve"], pins["grpcio-tools"]) == ("2.14.1", "0.12.0", "1.81.1")
    assert "litserve" not in pins  # a peer of the benchmark, in its own venv (loadtests/peers/), never ours


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, Path]:
    """Copies of pyproject.toml and the lock, to change."""
    return Path(shutil.copy(lock.PYPROJECT, tmp_path)), Path(shutil.copy(lock.LOCK, tmp_path))


def test_a_dependency_the_lock_lacks_is_found(project: tuple[Path, Path]) -> None:
    pyproject, locked = project
    text = pyproject.read_text()
    pyproject.write_text(text.replace('    "psutil>=5.9",', '    "psutil>=5.9",\n    "left-pad>=1.0",', 1))
    assert lock.problems(pyproject, locked) == [
        "requirements.lock was not resolved from this pyproject.toml's dependencies: run `make lock`",
        "left-pad (left-pad>=1.0) is not in requirements.lock"]


def test_a_pin_outside_a_tightened_range_is_found(project: tuple[Path, Path]) -> None:
    pyproject, locked = project
    pyproject.write_text(pyproject.read_text().replace('"fastapi>=0.115"', '"fastapi>=999"', 1))
    found = lock.problems(pyproject, locked)
    assert found[0] == "requirements.lock was not resolved from this pyproject.toml's dependencies: run `make lock`"
    assert found[1:] == [f"requirements.lock pins fastapi=={lock.locked_versions()['fastapi']}, outside fastapi>=999"]


def test_only_the_dependency_tables_count(project: tuple[Path, Path]) -> None:
    pyproject, locked = project
    pyproject.write_text(pyproject.read_text().replace("line-length = 120", "line-length = 100", 1))
    assert lock.problems(pyproject, locked) == []
    locked.write_text(locked.read_text().replace(lock.DIGEST_LINE, "# nothing: ", 1))
    assert lock.problems(pyproject, locked) == [
        "requirements.lock was not resolved from this pyproject.toml's dependencies: run `make lock`"]


def test_the_compile_command_passes_pips_indexes_and_its_rule(tmp_path: Path) -> None:
    command = lock.compile_command(tmp_path / "out")
    assert command[:5] == [sys.executable, "-m", "uv", "pip", "compile"]
    assert command[command.index("--index-strategy") + 1] == "unsafe-best-match"
    configured = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True,
                                check=True).stdout
    for value in lock.pip_index_options()[1::2]:
        assert value in configured


def test_the_check_command_passes_on_the_committed_lock() -> None:
    result = subprocess.run([sys.executable, str(lock.ROOT / "docker/lock.py"), "--check"], capture_output=True,
                            text=True, check=False)
    assert (result.returncode, result.stderr) == (0, "")


def test_make_setup_and_the_lock_target_read_the_lock() -> None:
    makefile = (lock.ROOT / "Makefile").read_text()
    assert "STAMP := $(VENV)/.installed-$(shell cat pyproject.toml $(LOCK) | cksum | cut -d' ' -f1)" in makefile
    assert "$(STAMP): pyproject.toml $(LOCK)" in makefile
    assert "$(PY) -m pip install --quiet --constraint $(LOCK) -e '.[test]'" in makefile
    assert "$(PY) docker/lock.py" in makefile
