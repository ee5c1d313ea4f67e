"""Reading h2load's report as a gRPC benchmark: the command it is given, the framed body, and calls that came
back without their message counted as failed (h2load itself sees only HTTP 200)."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest

from loadtests import h2load, load_generator

REPORT = """starting benchmark...
finished in 8.01s, 481.25 req/s, 59.02KB/s
requests: 3850 total, 3866 started, 3850 done, 3850 succeeded, 0 failed, 0 errored, 0 timeout
status codes: 3850 2xx, 0 3xx, 0 4xx, 0 5xx
traffic: 472.80KB (484147) total, 80.41KB (82342) headers (space savings 93.55%), {data}B ({data}) data
                     min         max         mean         sd        +/- sd
time for request:     3.17ms    142.20ms     32.78ms     15.02ms    70.00%
time for connect:      191us      1.73ms      1.02ms       469us    62.50%
"""


def _run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, data: int) -> tuple[h2load.H2loadResult, list[str]]:
    seen: list[list[str]] = []

    class Done:
        stdout = REPORT.format(data=data)

    def fake_run(command: list[str], **_: Any) -> Done:
        seen.append(command)
        return Done()

    monkeypatch.setattr(h2load, "h2load_binary", lambda: "h2load")
    monkeypatch.setattr(load_generator.subprocess, "run", fake_run)
    result = h2load.run("http://127.0.0.1:8001/inference.GRPCInferenceService/ModelInfer", tmp_path / "b.grpc",
                        connections=16, seconds=8, answer_bytes=100, token="k")
    return result, seen[0]


def test_a_run_reads_throughput_and_mean_latency_with_grpc_headers(monkeypatch: pytest.MonkeyPatch,
                                                                   tmp_path: Path) -> None:
    result, command = _run(monkeypatch, tmp_path, data=3850 * 100)
    assert (result.requests_per_s, result.mean_ms, result.failed) == (481.25, 32.78, 0)
    assert command == ["h2load", "-t1", "-c16", "-m1", "-D", "8", "-d", str(tmp_path / "b.grpc"),
                       "-H", "content-type: application/grpc", "-H", "te: trailers", "-H", "authorization: Bearer k",
                       "http://127.0.0.1:8001/inference.GRPCInferenceService/ModelInfer"]


def test_calls_answered_without_their_message_are_failures(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    result, _ = _run(monkeypatch, tmp_path, data=3800 * 100)  # 50 calls got a trailers-only gRPC error
    assert result.failed == 50


def test_the_body_is_one_framed_message(tmp_path: Path) -> None:
    path = h2load.body_file(tmp_path, "infer", b"\x0a\x03abc")
    assert path.read_bytes() == b"\x00" + struct.pack(">I", 5) + b"\x0a\x03abc"


def test_missing_figures_and_units_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="h2load output has no"):
        h2load._find(r"(\d+) done", "nothing here")
    with pytest.raises(ValueError, match="not a duration h2load prints: '3 min'"):
        load_generator.duration_ms("h2load", "3 min")
    assert load_generator.duration_ms("h2load", "191us") == 0.191


def test_a_missing_h2load_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(load_generator.shutil, "which", lambda name: None)
    with pytest.raises(FileNotFoundError) as missing:
        h2load.h2load_binary()
    assert str(missing.value) == ("h2load is not installed: `apt-get install nghttp2-client` (Debian) or "
                                  "`brew install nghttp2`")
