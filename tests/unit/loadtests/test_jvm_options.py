"""The JVM-options comparison's command line and report (the run itself needs TorchServe: docs/benchmarks.md)."""

from pathlib import Path

import pytest

from loadtests import jvm_options
from loadtests.stack_memory import StackMemory


def test_a_store_without_the_model_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        jvm_options.parse_args(["--store", str(tmp_path), "--model", "mlp_classifier"])
    assert exited.value.code == 2
    assert capsys.readouterr().err == f"error: {tmp_path} has no mlp_classifier.mar (make archive builds it)\n"


@pytest.mark.parametrize("flag", ["--connections", "--seconds", "--repeats", "--warmup"])
def test_counts_below_one_are_refused(tmp_path: Path, flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "mlp_classifier.mar").write_bytes(b"")
    with pytest.raises(SystemExit) as exited:
        jvm_options.parse_args(["--store", str(tmp_path), flag, "0"])
    assert exited.value.code == 2
    assert "must be at least 1" in capsys.readouterr().err


def test_the_table_has_one_row_per_option_set_with_the_workers_summed() -> None:
    memory = StackMemory(gateway_mib=64.2, jvm_mib=194.4, workers_mib=(170.0, 175.4), processes=4)
    figures = [jvm_options.OptionFigures("(none: the JVM's defaults)", 1610.4, 25.04, 0, memory, 7.33),
               jvm_options.OptionFigures("-XX:+UseSerialGC", 1714.0, 21.9, 3, memory, 7.3)]
    lines = jvm_options.table(figures).splitlines()
    assert lines[2] == "| `(none: the JVM's defaults)` | 1610 | 25.0 | 0 | 194 | 345 | 64 | 7.3 |"
    assert lines[3].startswith("| `-XX:+UseSerialGC` | 1714 | 21.9 | 3 |")
    assert len(lines) == 4
