"""Reading wrk's report and writing its request scripts."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtests import load_generator, wrk

REPORT = """Running 10s test @ http://127.0.0.1:8000/v1/models/mlp_classifier/predict
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    12.31ms    3.02ms  41.20ms   80.00%
  Latency Distribution
     50%   11.87ms
     75%   13.40ms
     90%   15.92ms
     99%    1.02s
  12987 requests in 10.01s, 2.90MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:   1297.42
Transfer/sec:    296.60KB
"""


def test_report_is_read_exactly(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    class Done:
        stdout = REPORT

    monkeypatch.setattr(wrk, "wrk_binary", lambda: "wrk")
    monkeypatch.setattr(load_generator.subprocess, "run", lambda *a, **k: Done())
    result = wrk.run("http://x", tmp_path / "s.lua", connections=16, seconds=10)
    assert (result.requests_per_s, result.p50_ms, result.p99_ms, result.errors) == (1297.42, 11.87, 1020.0, 7)


def test_missing_percentile_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="wrk output has no"):
        wrk._find(r"\s50%\s+([\d.]+\w+)", "nothing here")


def test_script_embeds_the_body_verbatim_and_the_token(tmp_path: Path) -> None:
    body = b'{"prompt": "a ]] b ]=] c \\"quoted\\""}'
    lua = wrk.script(tmp_path, "m", body, "application/json", "secret").read_text(encoding="latin-1")
    assert 'wrk.body = [==[{"prompt": "a ]] b ]=] c \\"quoted\\""}]==]' in lua
    assert 'wrk.headers["Authorization"] = "Bearer secret"' in lua
    assert "Authorization" not in wrk.script(tmp_path, "n", b"{}", "application/json", None).read_text()


def test_a_missing_wrk_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(load_generator.shutil, "which", lambda name: None)
    with pytest.raises(FileNotFoundError) as missing:
        wrk.wrk_binary()
    assert str(missing.value) == "wrk is not installed: `apt-get install wrk` (Debian) or `brew install wrk`"
