"""The CPU split's command line and table (the run itself needs TorchServe: docs/benchmarks.md)."""

from pathlib import Path

import pytest

from loadtests import cpu_split


def test_artifacts_without_the_model_are_one_line_and_exit_2(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cpu_split.parse_args(["--artifacts", str(tmp_path), "--model", "cnn_digits"])
    assert exited.value.code == 2
    assert capsys.readouterr().err == f"error: {tmp_path} has no trained cnn_digits (make export trains it)\n"


def test_the_server_total_leaves_out_the_client_and_a_missing_part_is_a_dash() -> None:
    stack = cpu_split.Split("stack", 1643.2, {"gateway": 0.286, "jvm": 0.241, "workers": 0.249, "wrk": 0.075})
    direct = cpu_split.Split("direct", 2966.0, {"jvm": 0.158, "workers": 0.196, "wrk": 0.039})
    assert stack.total_ms == pytest.approx(0.776)
    lines = cpu_split.table([stack, direct]).splitlines()
    assert lines[2] == "| stack | 1643 | 0.286 | 0.241 | 0.249 | 0.776 | 0.075 |"
    assert lines[3] == "| direct | 2966 | — | 0.158 | 0.196 | 0.354 | 0.039 |"
