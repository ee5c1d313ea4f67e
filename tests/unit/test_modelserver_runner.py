"""The runtime's pieces that need no TorchServe: model counting, readiness, pid files, log tails, safe stop."""

from __future__ import annotations

import os
from pathlib import Path

import psutil
import pytest

from serving.modelserver.errors import InvalidSetup
from serving.modelserver.logs import log_tails
from serving.modelserver.paths import ServerPaths
from serving.modelserver.probes import ModelState
from serving.modelserver.processes import read_pid, server_process
from serving.modelserver.runner import expected_models, start, stop
from serving.modelserver.settings import ModelServerSettings


@pytest.fixture(autouse=True)
def _no_ts_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.upper().startswith("TS_")]:
        monkeypatch.delenv(name)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    store = tmp_path / "store"
    store.mkdir()
    for name in ("a.mar", "b.mar", "readme.txt"):
        (store / name).write_bytes(b"")
    return store


def test_expected_models(store: Path) -> None:
    assert expected_models(ModelServerSettings(ts_model_store=store)) == 2
    assert expected_models(ModelServerSettings(ts_model_store=store, ts_models="a.mar")) == 1
    assert expected_models(ModelServerSettings(ts_model_store=store, ts_models="x=a.mar, b.mar,")) == 2


@pytest.mark.parametrize(("min_workers", "states", "ready"), [
    (1, ("READY",), True),
    (2, ("READY", "UNLOADING"), False),
    (1, ("UNLOADING",), False),
    (1, (), False),
    (0, (), True),
])
def test_model_readiness(min_workers: int, states: tuple[str, ...], ready: bool) -> None:
    assert ModelState("m", min_workers, states).ready is ready


def test_model_description() -> None:
    assert ModelState("echo", 2, ("READY", "STARTING")).describe() == "echo (1/2 workers READY: READY, STARTING)"


def test_read_pid(tmp_path: Path) -> None:
    (tmp_path / "good").write_text("1234\n")
    (tmp_path / "bad").write_text("pid")
    assert (read_pid(tmp_path / "good"), read_pid(tmp_path / "bad"), read_pid(tmp_path / "none")) == (1234, None, None)


def test_a_pid_file_naming_another_process_is_not_trusted(tmp_path: Path) -> None:
    """A recycled pid (here: this test's own) must never be taken for TorchServe, let alone stopped."""
    settings = ModelServerSettings(ts_home=tmp_path / "home")
    paths = ServerPaths.of(settings)
    paths.tmp.mkdir(parents=True)
    for pid_file in (paths.pid_file, paths.launcher_pid_file):
        pid_file.write_text(str(os.getpid()))
    assert server_process(paths) is None
    stop(settings)
    assert psutil.Process(os.getpid()).is_running()
    assert not paths.pid_file.exists()
    assert not paths.launcher_pid_file.exists()


def test_stop_when_nothing_ever_ran(tmp_path: Path) -> None:
    stop(ModelServerSettings(ts_home=tmp_path / "never"))
    assert not (tmp_path / "never").exists()


def test_a_home_too_long_for_unix_sockets_is_refused(store: Path, tmp_path: Path) -> None:
    home = tmp_path / ("h" * 100)
    with pytest.raises(InvalidSetup, match=f"ts_home {home} is too long: worker socket paths must fit in 107 bytes"):
        start(ModelServerSettings(ts_model_store=store, ts_home=home))


def test_log_tails_skip_access_lines_and_quote_the_console_only_without_ts_log(tmp_path: Path) -> None:
    paths = ServerPaths(tmp_path)
    assert log_tails(paths) == f"(no logs in {paths.logs})"
    paths.logs.mkdir()
    paths.console_log.write_text("Error: could not find or load main class\n")
    assert log_tails(paths, lines=2) == (f"--- {paths.console_log} (last 2 lines) ---\n"
                                         "Error: could not find or load main class")
    lines = [f"line {i}" for i in range(50)] + ['x ACCESS_LOG - /127.0.0.1:1 "GET /ping HTTP/1.1" 200 0']
    (paths.logs / "ts_log.log").write_text("\n".join(lines) + "\n")
    (paths.logs / "model_log.log").write_text("RuntimeError: boom\n")
    assert log_tails(paths, lines=2) == (f"--- {paths.logs / 'ts_log.log'} (last 2 lines) ---\nline 48\nline 49\n"
                                         f"--- {paths.logs / 'model_log.log'} (last 2 lines) ---\nRuntimeError: boom")
