"""`python -m loadtests`: bad input is one line on stderr and exit code 2, before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtests import load_generator
from loadtests.cli import main
from tests.servers import free_ports


@pytest.mark.parametrize(("argv", "message"), [
    (["run", "--models", "resnet_1000"], "not in the load mix (mix.toml): resnet_1000"),
    (["run", "--users", "0"], "--users and --duration must be at least 1"),
    (["run", "--target", "triton"], "invalid choice: 'triton'"),
    (["run", "--slo", "/nonexistent/slo.toml"], "SLO file not found: /nonexistent/slo.toml"),
    (["soak", "--duration", "0"], "--users and --duration must be at least 1"),
    (["bench", "--connections", "0"], "--connections must be at least 1"),
    (["runtimes", "--batches", "0"], "--seconds, --repeats, --batches and --connections must be at least 1"),
    (["runtimes", "--repeats", "0"], "--seconds, --repeats, --batches and --connections must be at least 1"),
    (["runtimes", "--runtimes", "tensorrt"], "invalid choice: 'tensorrt'"),
    (["runtimes", "--models", "resnet_1000", "--artifacts", "/nonexistent"],
     "no artifacts for resnet_1000 under /nonexistent (run `make export`)"),
    ([], "the following arguments are required: command"),
])
def test_bad_input_is_one_line_and_exit_2(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert message in err


def test_a_bad_slo_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken, stranger = tmp_path / "broken.toml", tmp_path / "stranger.toml"
    broken.write_text("[default\n")
    stranger.write_text("[models.resnet]\np99_ms = 1\n")
    assert main(["run", "--slo", str(broken)]) == 2
    assert "is not valid TOML" in capsys.readouterr().err
    assert main(["run", "--slo", str(stranger)]) == 2
    assert "names models the mix does not have: resnet" in capsys.readouterr().err


def test_a_host_where_nothing_answers(capsys: pytest.CaptureFixture[str]) -> None:
    port = free_ports(1)[0]
    assert main(["run", "--host", f"http://127.0.0.1:{port}"]) == 2
    assert f"nothing answers at http://127.0.0.1:{port}" in capsys.readouterr().err


def test_no_archives_to_start_a_stack_with(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_ports(1)[0]  # nothing runs at the default addresses as far as this test is concerned
    monkeypatch.setenv("GATEWAY_PORT", str(port))
    assert main(["run", "--store", str(tmp_path)]) == 2
    assert f"no .mar archives in {tmp_path}" in capsys.readouterr().err


def test_bad_sweep_settings_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sweep", "--delays", "-1"]) == 2
    assert "--delays at least 0" in capsys.readouterr().err
    assert main(["sweep", "--batch-sizes", "0"]) == 2
    capsys.readouterr()
    assert main(["sweep", "--threads", "0"]) == 2
    assert "--threads must be at least 1" in capsys.readouterr().err


def test_a_stack_that_cannot_start_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Seen: a long TMPDIR makes TorchServe's worker socket paths too long; the run says so in one line."""
    store = tmp_path / "store"
    store.mkdir()
    (store / "m.mar").write_bytes(b"")
    deep = tmp_path / ("d" * 100)
    deep.mkdir()
    monkeypatch.setenv("GATEWAY_PORT", str(free_ports(1)[0]))
    monkeypatch.setenv("TMPDIR", str(deep))
    monkeypatch.setattr("tempfile.tempdir", None)  # read TMPDIR again
    assert main(["run", "--store", str(store)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "is too long: worker socket paths must fit" in err


@pytest.mark.parametrize("command", ["bench", "runtimes", "sweep"])
def test_the_commands_that_measure_with_wrk_refuse_to_start_without_it(
        command: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(load_generator.shutil, "which", lambda name: None)
    assert main([command]) == 2
    assert capsys.readouterr().err == ("error: wrk is not installed: `apt-get install wrk` (Debian) or "
                                       "`brew install wrk`\n")
