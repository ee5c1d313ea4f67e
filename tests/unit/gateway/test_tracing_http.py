"""The HTTP edge's tracing layer: which routes make a span (probes and scrapes none), an event stream as the stream
protocol and an exception as the span's error; and the process collectors on the gateway's /metrics beside it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from opentelemetry.trace import StatusCode

from serving.gateway.observability.tracing_http import TracingMiddleware
from tests.unit.gateway.traced_gateway import gateway, memory_tracing

pytestmark = pytest.mark.anyio


async def test_probes_and_scrapes_make_no_span_and_other_routes_one_each(tmp_path: Path) -> None:
    async with gateway(tmp_path) as running:
        for path in ("/livez", "/readyz", "/metrics"):
            await running.client.get(path)
        await running.client.get("/v2/models/wine")
        await running.client.get("/nowhere")
        spans = running.spans()
    assert [(s.name, (s.attributes or {})["gateway.protocol"], (s.attributes or {})["http.response.status_code"])
            for s in spans] == [("GET /v2/models/{name}", "rest-v2", 200), ("GET", "http", 404)]
    assert [(s.attributes or {})["gateway.upstream.calls"] for s in spans] == [0, 0]


async def test_the_gateways_metrics_carry_the_process_collectors(tmp_path: Path) -> None:
    async with gateway(tmp_path) as running:
        metrics = await running.client.get("/metrics")
    samples = {line.split("{")[0].split(" ")[0] for line in metrics.text.splitlines() if not line.startswith("#")}
    assert {"process_resident_memory_bytes", "process_cpu_seconds_total", "process_open_fds",
            "python_gc_objects_collected_total", "python_info", "gateway_in_flight_requests"} <= samples


async def run_asgi(app: Any, path: str = "/v1/models/m/predict") -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": path, "headers": [], "scheme": "http"}
    await app(scope, receive, send)
    return sent


async def test_an_event_stream_answer_is_the_stream_protocol_and_an_exception_is_the_spans_error() -> None:
    tracing, exporter = memory_tracing()

    async def streaming(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream; charset=utf-8")]})
        await send({"type": "http.response.body", "body": b"data: {}\n\n"})

    async def broken(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("a bug")

    await run_asgi(TracingMiddleware(streaming, tracing))
    with pytest.raises(RuntimeError, match="^a bug$"):
        await run_asgi(TracingMiddleware(broken, tracing))
    stream, failed = exporter.get_finished_spans()
    assert ((stream.attributes or {})["gateway.protocol"], stream.status.status_code) == ("stream", StatusCode.UNSET)
    assert ((failed.attributes or {})["http.response.status_code"], (failed.attributes or {})["error.type"],
            failed.status.status_code, failed.status.description) == (500, "RuntimeError", StatusCode.ERROR,
                                                                     "RuntimeError")
    assert [(e.name, (e.attributes or {})["exception.message"]) for e in failed.events] == [("exception", "a bug")]
