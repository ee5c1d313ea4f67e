"""OpenTelemetry traces of the whole gateway app in process, over the SDK's in-memory exporter, in front of a scripted
TorchServe on loopback: one span per request on REST v1, REST v2 and gRPC, with the model, version, protocol, batch
and upstream time; the client's traceparent continued and sent on to TorchServe; errors in the span's status."""

from __future__ import annotations

import asyncio
import json
import re
import zipfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import grpc
import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import serving.gateway.__main__ as entry
from handlers import envelope
from serving.gateway.app import GatewayApp, create_app
from serving.gateway.core.dataplane import DataPlane
from serving.gateway.frontends.grpc_v2 import inference_pb2 as pb
from serving.gateway.frontends.grpc_v2.service import handlers
from serving.gateway.observability.tracing import Tracing, inject, service_resource
from serving.gateway.observability.tracing_http import TracingMiddleware
from serving.gateway.settings import GatewaySettings, get_settings
from serving.modelserver import ModelServerSettings
from tests.unit.gateway.scripted_servers import Server, serve

pytestmark = pytest.mark.anyio
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{CLIENT_SPAN}-01"
ANSWER = json.dumps({"label": ["b"], "probabilities": [[0.25, 0.75]]}).encode()
ROWS = {"name": "wine", "kind": "tabular-classification", "version": "1.0",
        "inputs": [{"name": "features", "shape": [-1, 2]}], "labels": ["a", "b"], "example": {"features": [0.5, 1.5]}}
V1_BODY = {"features": [0.5, 1.5]}
V2_BODY = {"inputs": [{"name": "features", "datatype": "FP32", "shape": [1, 2], "data": [0.5, 1.5]}]}
INFER = "/inference.GRPCInferenceService/ModelInfer"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def http_answer(status: int, body: bytes, content_type: str = "application/json") -> bytes:
    return (f"HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode() + body


class ScriptedTorchServe:
    """Answers every prediction with ANSWER (each item of an envelope too), or `status` when set; holds calls while
    `gate` is clear."""

    def __init__(self) -> None:
        self.server: Server | None = None
        self.status = 200
        self.gate = asyncio.Event()
        self.gate.set()

    async def reply(self, head: bytes, number: int) -> bytes:
        assert self.server is not None
        await self.gate.wait()
        if self.status != 200:
            return http_answer(self.status, b'{"message": "the worker failed"}')
        if b"content-type: " + envelope.CONTENT_TYPE.encode() in head.lower():
            items = envelope.unpack_requests(self.server.requests[-1].partition(b"\r\n\r\n")[2])
            return http_answer(200, envelope.pack_responses([(200, "application/json", ANSWER)] * len(items)),
                               envelope.CONTENT_TYPE)
        return http_answer(200, ANSWER)

    def traceparents(self) -> list[str | None]:
        """The traceparent header of each call received, in order (None where there was none)."""
        assert self.server is not None
        found = [re.search(rb"(?im)^traceparent: (\S+)\r$", request.partition(b"\r\n\r\n")[0] + b"\r")
                 for request in self.server.requests]
        return [match.group(1).decode() if match else None for match in found]


@dataclass
class Running:
    app: GatewayApp
    client: httpx.AsyncClient
    torchserve: ScriptedTorchServe
    exporter: InMemorySpanExporter

    @property
    def plane(self) -> DataPlane:
        plane: DataPlane = self.app.state.plane
        return plane

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())


@asynccontextmanager
async def gateway(tmp_path: Path, **settings: Any) -> AsyncIterator[Running]:
    """The gateway app (its lifespan running) with tracing to memory, in front of a scripted TorchServe."""
    store = tmp_path / "store"
    store.mkdir()
    with zipfile.ZipFile(store / "wine.mar", "w") as archive:
        archive.writestr("signature.json", json.dumps(ROWS))
        archive.writestr("metrics.json", "{}")
        archive.writestr("model_card.md", "# Model card: wine")
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    torchserve = ScriptedTorchServe()
    async with serve(torchserve.reply) as server:
        torchserve.server = server
        app = create_app(GatewaySettings(_env_file=None, gateway_model_store=store,
                                         gateway_torchserve_url=f"http://127.0.0.1:{server.origin.port}", **settings),
                         ModelServerSettings(ts_model_store=store, ts_home=tmp_path / "home"),
                         tracing=Tracing(provider))
        assert isinstance(app, GatewayApp)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
                yield Running(app, client, torchserve, exporter)


class FakeContext:
    """What the gateway's gRPC guard uses of a grpc.aio ServicerContext."""

    def __init__(self, metadata: tuple[tuple[str, str], ...] = ()) -> None:
        self.metadata = metadata
        self.code: grpc.StatusCode | None = None
        self.trailers: tuple[tuple[str, str], ...] = ()

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self.metadata

    def time_remaining(self) -> float:
        return 30.0

    def done(self) -> bool:
        return False

    def set_trailing_metadata(self, trailing_metadata: tuple[tuple[str, str], ...]) -> None:
        self.trailers = trailing_metadata

    async def abort(self, code: grpc.StatusCode, details: str,
                    trailing_metadata: tuple[tuple[str, str], ...] = ()) -> None:
        self.code, self.trailers = code, trailing_metadata
        raise grpc.aio.AbortError()


async def grpc_infer(plane: DataPlane, model: str = "wine",
                     metadata: tuple[tuple[str, str], ...] = ()) -> tuple[FakeContext, pb.ModelInferResponse | None]:
    """ModelInfer through the gateway's own generic handlers, as grpc.aio would call them."""
    method = next(h.service(SimpleNamespace(method=INFER)) for h in handlers(plane)
                  if h.service(SimpleNamespace(method=INFER)) is not None)
    message = pb.ModelInferRequest(model_name=model, inputs=[pb.ModelInferRequest.InferInputTensor(
        name="features", datatype="FP32", shape=[1, 2], contents=pb.InferTensorContents(fp32_contents=[0.5, 1.5]))])
    context = FakeContext(metadata)
    try:
        raw = await method.unary_unary(message.SerializeToString(), context)
    except grpc.aio.AbortError:
        return context, None
    return context, pb.ModelInferResponse.FromString(raw)


def traceparent(span: ReadableSpan) -> str:
    """The W3C traceparent naming `span` as the parent."""
    context = span.context
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


def gateway_attributes(span: ReadableSpan) -> dict[str, Any]:
    """The span's own attributes, the upstream time checked and left out (it is a measured duration)."""
    attributes = dict(span.attributes or {})
    seconds = attributes.pop("gateway.upstream.duration", None)
    if attributes.get("gateway.upstream.calls"):
        assert isinstance(seconds, float)
        assert 0 < seconds < 30
    else:
        assert seconds is None
    return attributes


async def test_rest_v1_v2_and_grpc_each_make_one_span_with_model_version_protocol_batch_and_upstream_time(
        tmp_path: Path) -> None:
    async with gateway(tmp_path) as running:
        v1 = await running.client.post("/v1/models/wine/predict", json=V1_BODY, headers={"X-Request-ID": "r-1"})
        v2 = await running.client.post("/v2/models/wine/infer", json=V2_BODY, headers={"X-Request-ID": "r-2"})
        context, answer = await grpc_infer(running.plane, metadata=(("x-request-id", "r-3"),))
        spans = running.spans()
    assert (v1.status_code, v2.status_code, context.code) == (200, 200, None)
    assert answer is not None
    assert answer.model_name == "wine"
    assert [(s.name, s.kind) for s in spans] == [("POST /v1/models/{name}/predict", SpanKind.SERVER),
                                                ("POST /v2/models/{name}/infer", SpanKind.SERVER),
                                                ("inference.GRPCInferenceService/ModelInfer", SpanKind.SERVER)]
    model = {"gateway.model.name": "wine", "gateway.model.version": "1.0", "gateway.batch.size": 1,
             "gateway.upstream.calls": 1}
    assert [gateway_attributes(s) for s in spans] == [
        {**model, "gateway.protocol": "rest-v1", "gateway.request_id": "r-1", "http.request.method": "POST",
         "url.path": "/v1/models/wine/predict", "url.scheme": "http", "http.route": "/v1/models/{name}/predict",
         "http.response.status_code": 200},
        {**model, "gateway.protocol": "rest-v2", "gateway.request_id": "r-2", "http.request.method": "POST",
         "url.path": "/v2/models/wine/infer", "url.scheme": "http", "http.route": "/v2/models/{name}/infer",
         "http.response.status_code": 200},
        {**model, "gateway.protocol": "grpc", "gateway.request_id": "r-3", "rpc.system": "grpc",
         "rpc.service": "inference.GRPCInferenceService", "rpc.method": "ModelInfer", "rpc.grpc.status_code": 0},
    ]
    assert [s.status.status_code for s in spans] == [StatusCode.UNSET] * 3


async def test_the_clients_traceparent_is_the_spans_parent_and_goes_on_to_torchserve(tmp_path: Path) -> None:
    async with gateway(tmp_path) as running:
        await running.client.post("/v1/models/wine/predict", json=V1_BODY, headers={"traceparent": TRACEPARENT})
        await running.client.post("/v2/models/wine/infer", json=V2_BODY, headers={"traceparent": TRACEPARENT})
        await grpc_infer(running.plane, metadata=(("traceparent", TRACEPARENT),))
        await running.client.post("/v1/models/wine/predict", json=V1_BODY)  # a new trace of its own
        spans, sent = running.spans(), running.torchserve.traceparents()
    for span in spans[:3]:
        assert (f"{span.context.trace_id:032x}", f"{span.parent.span_id:016x}") == (TRACE_ID, CLIENT_SPAN)
        assert span.parent.is_remote
    assert spans[3].parent is None
    assert f"{spans[3].context.trace_id:032x}" != TRACE_ID
    # TorchServe's call is the gateway span's child: same trace, the gateway's span as the parent.
    assert sent == [traceparent(s) for s in spans]


async def test_client_errors_leave_the_status_unset_and_server_errors_set_it(tmp_path: Path) -> None:
    async with gateway(tmp_path) as running:
        missing = await running.client.post("/v1/models/nope/predict", json=V1_BODY)
        bad = await running.client.post("/v2/models/wine/infer", json={"inputs": "no"})
        grpc_missing, _ = await grpc_infer(running.plane, model="nope")
        running.torchserve.status = 500
        failed = await running.client.post("/v1/models/wine/predict", json=V1_BODY)
        grpc_failed, _ = await grpc_infer(running.plane)
        spans = running.spans()
    assert [missing.status_code, bad.status_code, failed.status_code] == [404, 400, 502]
    assert [grpc_missing.code, grpc_failed.code] == [grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNAVAILABLE]
    outcomes = [(s.status.status_code, s.status.description, (s.attributes or {}).get("error.type"),
                 (s.attributes or {}).get("gateway.model.name")) for s in spans]
    assert outcomes == [(StatusCode.UNSET, None, None, None),  # no such model: nothing to name
                        (StatusCode.UNSET, None, None, "wine"),  # admitted, then its body refused
                        (StatusCode.UNSET, None, None, None),
                        (StatusCode.ERROR, "502", "502", "wine"),
                        (StatusCode.ERROR, "UNAVAILABLE", "UNAVAILABLE", "wine")]
    assert [(s.attributes or {}).get("http.response.status_code", (s.attributes or {}).get("rpc.grpc.status_code"))
            for s in spans] == [404, 400, 5, 502, 14]


async def test_each_span_carries_the_batch_its_request_rode_in_and_the_batch_carries_the_firsts_trace(
        tmp_path: Path) -> None:
    async with gateway(tmp_path, gateway_batch_max_in_flight=1) as running:
        running.torchserve.gate.clear()
        first = asyncio.ensure_future(running.client.post("/v1/models/wine/predict", json=V1_BODY))
        while not running.torchserve.traceparents():
            await asyncio.sleep(0.01)
        queued = [asyncio.ensure_future(running.client.post("/v1/models/wine/predict", json=V1_BODY,
                                                            headers={"X-Request-ID": f"q-{i}"}))
                  for i in range(3)]
        while len(running.plane.batcher._queues["wine"].waiting) < 3:
            await asyncio.sleep(0.01)
        running.torchserve.gate.set()
        answers = [await request for request in (first, *queued)]
        spans, sent = running.spans(), running.torchserve.traceparents()
    assert [a.status_code for a in answers] == [200] * 4
    by_id = {(s.attributes or {})["gateway.request_id"]: s for s in spans if s.attributes}
    assert {rid: (by_id[rid].attributes or {})["gateway.batch.size"] for rid in ("q-0", "q-1", "q-2")} == \
        {"q-0": 3, "q-1": 3, "q-2": 3}
    assert len(spans) == 4
    assert (spans[0].attributes or {})["gateway.batch.size"] == 1
    # Two calls to TorchServe: the lone one and the envelope, which carries the first queued request's trace.
    assert sent[1] == traceparent(by_id["q-0"])
    assert len(sent) == 2


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


def memory_tracing() -> tuple[Tracing, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return Tracing(provider), exporter


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


@pytest.mark.parametrize(("env", "exporters"), [
    ({}, ()),  # off by default
    ({"OTEL_TRACES_EXPORTER": "otlp"}, ("otlp",)),
    ({"OTEL_TRACES_EXPORTER": "otlp, console"}, ("otlp", "console")),
    ({"OTEL_TRACES_EXPORTER": "none"}, ()),
    ({"OTEL_SDK_DISABLED": "false"}, ("otlp",)),  # the SDK on, with the spec's default exporter
    ({"OTEL_SDK_DISABLED": "false", "OTEL_TRACES_EXPORTER": "console"}, ("console",)),
    ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, ()),  # disabled wins
    ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, ("otlp",)),
])
def test_what_turns_tracing_on(monkeypatch: pytest.MonkeyPatch, env: dict[str, str],
                               exporters: tuple[str, ...]) -> None:
    for name in ("OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_PROTOCOL",
                 "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert GatewaySettings(_env_file=None).trace_exporters() == exporters


@pytest.mark.parametrize(("env", "message"), [
    ({"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER: unknown exporter 'zipkin'; the gateway has otlp, "
                                         "console (or none)"),
    ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc"},
     "OTEL_EXPORTER_OTLP_PROTOCOL: the gateway exports OTLP as http/protobuf (port 4318), not 'grpc'"),
])
def test_a_tracing_setting_the_gateway_cannot_honour_stops_the_start_up(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], env: dict[str, str],
        message: str) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        assert entry.main() == 2
    finally:
        get_settings.cache_clear()
    assert capsys.readouterr().err == f"error: invalid gateway settings: {message}\n"


def test_off_the_edge_has_no_tracing_layer_and_nothing_is_sent_on(tmp_path: Path) -> None:
    app = create_app(GatewaySettings(_env_file=None, gateway_model_store=tmp_path),
                     ModelServerSettings(ts_model_store=tmp_path, ts_home=tmp_path / "home"))
    assert isinstance(app, GatewayApp)
    layers, layer = [], app.edge
    while layer is not None and not isinstance(layer, type(app.route)):
        layers.append(type(layer).__name__)
        layer = getattr(layer, "app", None)
    assert layers == ["RequestIdMiddleware", "ErrorGuard", "MetricsMiddleware"]
    headers: dict[str, str] = {}
    inject(headers)
    assert headers == {}
    assert Tracing.of(()) is None


def test_the_service_is_named_unless_the_environment_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES", raising=False)
    assert service_resource().attributes["service.name"] == "torchserve-gateway"
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "service.name=edge,deployment.environment=prod")
    assert service_resource().attributes["service.name"] == "edge"
    monkeypatch.setenv("OTEL_SERVICE_NAME", "gateway-eu")
    resource = service_resource()
    assert (resource.attributes["service.name"], resource.attributes["deployment.environment"]) == ("gateway-eu",
                                                                                                   "prod")
    tracing = Tracing.of(("console",))
    assert tracing is not None
    assert tracing.provider.resource.attributes["service.name"] == "gateway-eu"
    tracing.provider.shutdown()


async def test_a_bug_behind_a_grpc_call_is_an_internal_error_span(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("a bug")

    async with gateway(tmp_path) as running:
        monkeypatch.setattr(running.plane, "infer", broken)
        context, _ = await grpc_infer(running.plane)
        (span,) = running.spans()
    assert context.code == grpc.StatusCode.INTERNAL
    assert ((span.attributes or {})["rpc.grpc.status_code"], (span.attributes or {})["error.type"],
            span.status.status_code, span.status.description) == (13, "INTERNAL", StatusCode.ERROR, "INTERNAL")
