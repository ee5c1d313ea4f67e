"""The soak's memory verdict: growth measured between the end of warm-up and the end of the run."""

from __future__ import annotations

import os
import time
from pathlib import Path

import psutil
import pytest

from loadtests.soak import MemorySampler, growth, markdown, plot, verdict


def _ramp(start: float, end: float, seconds: int = 100) -> list[tuple[float, float]]:
    return [(float(t), start + (end - start) * t / seconds) for t in range(seconds + 1)]


def test_growth_compares_medians_after_warm_up() -> None:
    flat_with_a_peak = [(float(t), 100.0) for t in range(100)]
    flat_with_a_peak[95] = (95.0, 400.0)  # one collection peak near the end does not count as growth
    assert growth(flat_with_a_peak, warmup_s=10) == (100.0, 100.0, 0.0)
    baseline, final, ratio = growth(_ramp(50, 150), warmup_s=50)
    assert (baseline, final) == (102.0, 148.0)  # medians of t = 50..54 and t = 96..100
    assert ratio == pytest.approx(148 / 102 - 1)


def test_too_few_samples_after_warm_up_is_an_error() -> None:
    with pytest.raises(ValueError, match="too few memory samples"):
        growth([(0.0, 1.0), (5.0, 1.0)], warmup_s=5)


def test_verdict_names_the_process_that_grew_or_died(tmp_path: Path) -> None:
    sampler = MemorySampler({}, interval_s=1)
    sampler.samples = {"gateway": _ramp(100, 104), "cnn_digits": _ramp(500, 700)}
    sampler.vanished = {"char_rnn"}
    figures, problems = verdict(sampler, warmup_s=10, max_growth=0.10)
    assert figures["gateway"]["growth"] < 0.10
    assert figures["cnn_digits"]["peak_mib"] == 700.0
    assert problems[0] == "char_rnn died during the soak"
    assert problems[1].startswith("cnn_digits: resident memory grew")
    assert len(problems) == 2
    plot(sampler, 10, tmp_path / "memory.png")
    assert (tmp_path / "memory.png").read_bytes()[:4] == b"\x89PNG"


def test_sampler_reads_live_processes_on_its_thread() -> None:
    with MemorySampler({"me": psutil.Process(os.getpid())}, interval_s=0.05) as sampler:
        time.sleep(0.3)
    assert len(sampler.samples["me"]) >= 3
    assert all(rss > 10 for _, rss in sampler.samples["me"])
    assert not sampler.vanished


def test_the_report_names_each_process_and_the_verdict() -> None:
    report = {"duration_s": 1800, "users": 32, "warmup_s": 180, "max_growth": 0.1, "requests": 1000, "failures": 0,
              "requests_per_s": 0.56, "problems": [],
              "memory": {"gateway": {"baseline_mib": 80.0, "final_mib": 81.0, "growth": 0.0125, "peak_mib": 83.0}}}
    text = markdown(report, "2 CPU cores")
    assert "| gateway | 80.0 | 81.0 | +1.25% | 83.0 |" in text
    assert "- verdict: passed" in text
    assert "FAILED: cnn_digits died" in markdown({**report, "problems": ["cnn_digits died"]}, "x")
