"""docs/runtimes.md from measured figures: a row per model and runtime, the fastest per model, the GPU note."""

from __future__ import annotations

import argparse
from pathlib import Path

from loadtests import runtimes_report
from loadtests.runtimes import Figures
from loadtests.wrk import WrkResult


def _figures(rate: float) -> Figures:
    result = WrkResult(rate, 2.0, 5.0, 0, 0.0)
    return Figures(start_s=0.5, file_bytes=3 * 2**20, batches={1: result, 8: result, 64: result},
                   stack={1: result, 16: result}, pss_bytes=200 * 2**20)


RESULTS = {"cnn_digits": {"torchscript": _figures(900.0), "onnx": _figures(1200.0), "aoti": _figures(1000.0)}}
ARGS = argparse.Namespace(batches=[1, 8, 64], connections=[1, 16], seconds=3, repeats=3)


def test_the_page_has_a_row_per_runtime_and_names_the_fastest() -> None:
    page = runtimes_report.markdown(RESULTS, ARGS, 12.0, {"aoti": 4.2, "onnx": 0.3, "torchscript": 0.0})
    stack_cells = "1200 [1200–1200] (2.0) | 1200 [1200–1200] (2.0)"
    assert f"| `cnn_digits` | onnx | 1200 | 1200 | 1200 | {stack_cells} | 0.50 | 3.00 | 200 |" in page
    assert "| `cnn_digits` | torchscript | 900 |" in page
    assert "3 runs of 3 s each" in page
    assert "- `cnn_digits`: **onnx** (fastest: onnx)" in page
    assert runtimes_report.GPU_NOTE in page
    assert f"(fastest: onnx)\n\n{runtimes_report.EXPLANATIONS_NOTE}\n\n## GPU" in page
    assert "imports its runtime, once per process: aoti 4.2 s, onnx 0.3 s, torchscript 0.0 s." in page


def test_the_fastest_runtime_is_read_at_the_given_connections() -> None:
    results = {"torchscript": _figures(900.0), "onnx": _figures(800.0)}
    results["onnx"].stack[1] = WrkResult(2000.0, 1.0, 2.0, 0, 0.0)
    assert runtimes_report.fastest(results, 16) == "torchscript"
    assert runtimes_report.fastest(results, 1) == "onnx"


def test_the_default_prefers_a_later_runtime_within_the_noise_of_the_fastest() -> None:
    results = {"aoti": _figures(3919.0), "onnx": _figures(3778.0), "torchscript": _figures(3631.0)}
    results["aoti"].stack_spread[16] = (3739.0, 4278.0)
    results["onnx"].stack_spread[16] = (3774.0, 3781.0)  # its best run beat aoti's worst: within the noise
    results["torchscript"].stack_spread[16] = (3272.0, 3632.0)
    assert runtimes_report.default_pick(results, 16) == "onnx"
    results["onnx"].stack_spread[16] = (3600.0, 3700.0)  # now clearly slower: the fastest keeps it
    assert runtimes_report.default_pick(results, 16) == "aoti"
    results["aoti"].stack_spread[16] = (3500.0, 4278.0)  # noisy enough that all three are close: onnx first
    assert runtimes_report.default_pick(results, 16) == "onnx"


def test_the_plot_is_written(tmp_path: Path) -> None:
    runtimes_report.plot(RESULTS, tmp_path / "runtimes.png")
    assert (tmp_path / "runtimes.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_stack_cell_shows_the_spread_of_its_interleaved_runs() -> None:
    figures = _figures(1000.0)
    figures.stack_spread[16] = (940.0, 1075.0)
    page = runtimes_report.markdown({"mlp_classifier": {"onnx": figures}}, ARGS, 1.0, {"onnx": 0.3})
    assert "| 1000 [1000–1000] (2.0) | 1000 [940–1075] (2.0) |" in page
