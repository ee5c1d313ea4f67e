"""The benchmark's pieces: the in-process ceiling, the medians, the report with its targets and the plot."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from loadtests import bench, bench_report
from loadtests.inprocess import InProcessModel
from loadtests.wrk import WrkResult
from tests.unit.handlers import tiny


def _result(rps: float, p50: float = 1.0, p99: float = 2.0, errors: int = 0) -> WrkResult:
    return WrkResult(rps, p50, p99, errors, 0.02)


def _results(gateway_16: float, v2_16: float, gateway_p50_1: float = 1.5) -> bench_report.Results:
    ways = {"in-process": {1: _result(9000), 16: _result(30000)},
            "torchserve": {1: _result(200, p50=1.0), 16: _result(1000, p99=20)},
            "gateway": {1: _result(190, p50=gateway_p50_1), 16: _result(gateway_16, p99=18)},
            "gateway-v2": {1: _result(150), 16: _result(v2_16, p99=25)}}
    return {"mlp_classifier": ways}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny.build("tabular-classification", tmp_path_factory.mktemp("bench"))


def test_median_of_each_figure_and_the_sum_of_errors() -> None:
    runs = [WrkResult(100, 1, 9, 1, 0.1), WrkResult(300, 3, 5, 0, 0.3), WrkResult(200, 2, 7, 2, 0.2)]
    assert bench.median(runs) == WrkResult(200, 2, 7, 3, 0.2)


def test_in_process_serves_n_callers_as_one_batch(model_dir: Path) -> None:
    model = InProcessModel(model_dir, batch_size=4)
    body = json.dumps({"features": [[0.5] * 3]}).encode()
    assert json.loads(model.answer([body])[0])["label"]
    result = bench.in_process(model, body, connections=4, seconds=0.3)
    assert result.requests_per_s > 0
    assert result.errors == 0
    assert result.p99_ms >= result.p50_ms > 0
    bad = bench.in_process(model, b'{"features": [[1]]}', connections=2, seconds=0.1)
    assert bad.errors > 0  # a request the handler refuses is counted, not timed as a success


def test_in_process_model_runs_with_the_archive_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The in-process ceiling gets the model-config.yaml a TorchServe worker gets (its torch threads …)."""
    model_dir = tiny.build("tabular-classification", tmp_path)
    signature = json.loads((model_dir / "signature.json").read_text())
    signature["serving"]["torch_threads"] = 1
    (model_dir / "signature.json").write_text(json.dumps(signature))
    calls: list[int] = []
    monkeypatch.setattr("torch.set_num_threads", calls.append)
    model = InProcessModel(model_dir)
    assert model.context.model_yaml_config["handler"] == {"torch_threads": 1, "runtime": "torchscript"}
    assert model.context.model_yaml_config["maxBatchDelay"] == 5
    assert calls == [1]


def test_targets_are_judged_from_the_medians() -> None:
    met = bench_report.targets(_results(gateway_16=950, v2_16=600, gateway_p50_1=1.8))
    assert met == [
        "- met: `mlp_classifier` added p50 at 1 connection ≤ 1.0 ms — measured +0.80 ms",
        "- met: `mlp_classifier` gateway / TorchServe throughput at 16 connections ≥ 0.9 — measured 0.95",
    ]
    missed = bench_report.targets(_results(gateway_16=400, v2_16=600, gateway_p50_1=2.5))
    assert [line.split(":")[0] for line in missed] == ["- NOT met"] * 2


def test_report_table_ratios_and_plot(tmp_path: Path) -> None:
    args = argparse.Namespace(seconds=5, repeats=3)
    text = bench_report.markdown(_results(gateway_16=800, v2_16=400), args, 600)
    assert "| 16 | 30000 · 1.00 · 2.0 | 1000 · 1.00 · 20.0 | 800 · 1.00 · 18.0 | 400 · 1.00 · 25.0 | 0.80 | " \
           "0.03 | 0 | 2% |" in text
    assert "median of 3 interleaved runs, 10 min in all" in text
    failing = _results(gateway_16=800, v2_16=400)
    failing["mlp_classifier"]["gateway-v2"][16] = _result(400, p99=25, errors=7)
    assert "400 · 1.00 · 25.0 · **7 errors** |" in bench_report.markdown(failing, args, 600)
    bench_report.plot(_results(800, 400), tmp_path / "bench.png")
    assert (tmp_path / "bench.png").read_bytes()[:4] == b"\x89PNG"


def test_report_keeps_the_written_history() -> None:
    begin, end = bench_report.BEGIN, bench_report.END
    first = bench_report.merge("# Benchmarks\n", "table v1\n")
    assert first == f"# Benchmarks\n\n{begin}\ntable v1\n{end}\n"
    edited = first + "\n## History\nwhat moved which figure\n"
    assert bench_report.merge(edited, "table v2\n") == \
        f"# Benchmarks\n\n{begin}\ntable v2\n{end}\n\n## History\nwhat moved which figure\n"


def test_sweep_grid_adds_worker_counts_at_the_middle_settings_and_threads_at_the_first() -> None:
    from loadtests.sweep import configs

    args = argparse.Namespace(batch_sizes=[1, 8, 32], delays=[0, 2, 5], workers=[1, 2], threads=[1, 2])
    grid = configs(args)
    assert grid[:9] == [(b, d, 1, 1) for b in (1, 8, 32) for d in (0, 2, 5)]
    assert grid[9:] == [(8, 2, 2, 1), (1, 0, 1, 2)]
