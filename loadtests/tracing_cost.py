"""What tracing costs per request, in process: the whole gateway ASGI app called in a tight loop, its TorchServe
client's connection pool replaced by one that answers at once, so what is timed is the gateway's own work.

    python -m loadtests.tracing_cost [--requests 3000] [--rounds 5] [--tracing off,on]

`off` is the app as the environment leaves it (no OTEL_* set: no tracing layer); `on` is a span per request into
the SDK's BatchSpanProcessor with an exporter that drops what it is given (the SDK's work, not an exporter's
network). Run the same command with PYTHONPATH at another checkout for the code before a change (`off` only
there, if it has no tracing). Prints CPU microseconds per request (the process's CPU time, so that other
processes on a shared machine do not count; median of the rounds), per route, for docs/benchmarks.md."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import tempfile
import time
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from starlette.types import Message

from serving.gateway.app import create_app
from serving.gateway.core.http1 import Answer
from serving.gateway.settings import GatewaySettings
from serving.modelserver import ModelServerSettings

SIGNATURE = {"name": "wine", "kind": "tabular-classification", "version": "1.0",
             "inputs": [{"name": "features", "shape": [-1, 2]}], "labels": ["a", "b"],
             "example": {"features": [0.5, 1.5]}}
ANSWER = Answer(200, {"content-type": "application/json"},
                json.dumps({"label": ["b"], "probabilities": [[0.25, 0.75]]}).encode())
ROUTES = {
    "v1 predict": ("/v1/models/wine/predict", json.dumps({"features": [0.5, 1.5]}).encode()),
    "v2 infer, JSON": ("/v2/models/wine/infer", json.dumps(
        {"inputs": [{"name": "features", "datatype": "FP32", "shape": [1, 2], "data": [0.5, 1.5]}]}).encode()),
}


class AnsweringPool:
    """The TorchServe client's pool, answering every request at once (and keeping the last request's headers)."""

    def __init__(self) -> None:
        self.headers: dict[str, str] = {}

    async def request(self, origin: Any, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        self.headers = dict(headers)
        return ANSWER

    def close(self) -> None:
        """Nothing to close."""


def _tracing(mode: str) -> Any:
    if mode == "off":
        return None
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    from serving.gateway.observability.tracing import Tracing

    class Dropping(SpanExporter):
        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Dropping()))
    return Tracing(provider)


async def per_request_us(store: Path, mode: str, path: str, body: bytes, requests: int) -> float:
    """CPU microseconds per request of `path` through the whole app (lifespan running, upstream at once)."""
    settings = GatewaySettings.model_validate({"gateway_model_store": store, "gateway_torchserve_url": "http://ts:8080"})
    extra = {} if mode == "off" else {"tracing": _tracing(mode)}
    app = create_app(settings, ModelServerSettings(ts_model_store=store, ts_home=store / "home"), **extra)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")]
    statuses: list[int] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    async with app.router.lifespan_context(app):
        pool = AnsweringPool()
        app.state.plane.upstream._pool = pool
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
                 "headers": headers, "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 8000)}
        for _ in range(200):  # warm-up: first-request work (the contract, caches) out of the figure
            await app(dict(scope), receive, send)
        started = time.process_time()
        for _ in range(requests):
            await app(dict(scope), receive, send)
        elapsed = time.process_time() - started
    if set(statuses) != {200}:
        raise RuntimeError(f"{path} answered {sorted(set(statuses))}")
    if ("traceparent" in pool.headers) != (mode == "on"):
        raise RuntimeError(f"tracing {mode}, yet the upstream call's headers are {sorted(pool.headers)}")
    return elapsed / requests * 1e6


def main(argv: list[str] | None = None) -> int:
    """Run the rounds, interleaved, and print the table."""
    parser = argparse.ArgumentParser(prog="python -m loadtests.tracing_cost", description=__doc__)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tracing", default="off,on", help="comma-separated: off, on")
    args = parser.parse_args(argv)
    logging.getLogger("serving.gateway").setLevel(logging.ERROR)  # each app's start-up line is not the figure
    modes = [mode.strip() for mode in args.tracing.split(",")]
    results: dict[tuple[str, str], list[float]] = {(route, mode): [] for route in ROUTES for mode in modes}
    with tempfile.TemporaryDirectory(prefix="tracing-cost-") as folder:
        store = Path(folder)
        with zipfile.ZipFile(store / "wine.mar", "w") as archive:
            archive.writestr("signature.json", json.dumps(SIGNATURE))
            archive.writestr("metrics.json", "{}")
            archive.writestr("model_card.md", "# Model card: wine")
        for _ in range(args.rounds):
            for route, (path, body) in ROUTES.items():
                for mode in modes:
                    results[route, mode].append(asyncio.run(per_request_us(store, mode, path, body, args.requests)))
    print("| route | tracing | CPU µs per request (median of rounds) | rounds |")
    print("|---|---|---|---|")
    for (route, mode), values in results.items():
        print(f"| {route} | {mode} | {statistics.median(values):.1f} | {', '.join(f'{v:.0f}' for v in values)} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
