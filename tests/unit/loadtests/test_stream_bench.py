"""The streaming benchmark's report: one row per concurrency level and a verdict per target of issue #15."""

from __future__ import annotations

import pytest

from loadtests import stream_bench
from loadtests.stack import free_ports
from loadtests.stream_bench import StreamFigures, markdown


def test_the_report_has_a_row_per_level_and_judges_the_targets() -> None:
    figures = [StreamFigures(1, 5.0, 9.0, 60.0, 55.0, 3300.0, 3600.0),
               StreamFigures(4, 9.0, 20.0, 150.0, 140.0, 5300.0, 5700.0),
               StreamFigures(16, 60.0, 90.0, 800.0, 900.0, 4000.0, 3500.0)]
    text = markdown(figures)
    assert "| 1 | 5.0 | 9.0 | 60.0 | 55.0 | 3300.0 | 3600.0 | 0.92 |" in text
    assert "| 16 | 60.0 | 90.0 | 800.0 | 900.0 | 4000.0 | 3500.0 | 1.14 |" in text
    assert text.splitlines()[-4:] == [
        "- met: 1 stream(s), TTFT p50 ≤ 1/10 of the whole answer — 5.0 ms against 5.50 ms",
        "- met: 1 stream(s), streamed tokens/s ≥ 0.9× unstreamed — 0.92×",
        "- met: 16 stream(s), TTFT p50 ≤ 1/10 of the whole answer — 60.0 ms against 90.00 ms",
        "- met: 16 stream(s), streamed tokens/s ≥ 0.9× unstreamed — 1.14×",
    ][-4:]
    slow = markdown([StreamFigures(1, 12.0, 20.0, 60.0, 55.0, 3000.0, 3600.0)])
    assert "- NOT met: 1 stream(s), TTFT p50 ≤ 1/10 of the whole answer — 12.0 ms against 5.50 ms" in slow
    assert "- NOT met: 1 stream(s), streamed tokens/s ≥ 0.9× unstreamed — 0.83×" in slow


def test_the_grpc_columns_come_when_streams_were_measured_over_grpc() -> None:
    text = markdown([StreamFigures(1, 5.0, 9.0, 60.0, 55.0, 3300.0, 3600.0, 4.5, 3400.0)])
    assert "### Streaming (`char_rnn`, 200-token continuations, SSE through the gateway; gRPC: ModelStreamInfer)" \
        in text
    assert "| streamed / unstreamed | gRPC TTFT p50 (ms) | gRPC tokens/s |" in text
    assert "| 1 | 5.0 | 9.0 | 60.0 | 55.0 | 3300.0 | 3600.0 | 0.92 | 4.5 | 3400.0 |" in text
    assert "gRPC" not in markdown([StreamFigures(1, 5.0, 9.0, 60.0, 55.0, 3300.0, 3600.0)])


def test_the_command_refuses_a_url_that_is_not_http_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        stream_bench.main(["127.0.0.1:8000"])
    assert exited.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "python -m loadtests.stream_bench: error: URL must start with http:// or https://, got '127.0.0.1:8000'")


def test_the_command_says_when_the_gateway_cannot_be_reached(capsys: pytest.CaptureFixture[str]) -> None:
    port = free_ports(1)[0]  # nothing listens there
    assert stream_bench.main([f"http://127.0.0.1:{port}"]) == 2
    assert capsys.readouterr().out.startswith(f"error: cannot reach the gateway at http://127.0.0.1:{port}: ")
