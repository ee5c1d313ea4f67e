"""The whole gateway app in process with OpenTelemetry tracing to the SDK's in-memory exporter, in front of a
scripted TorchServe on loopback, and ModelInfer through the gateway's own gRPC handlers: what the tracing tests
share."""

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
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from handlers import envelope
from serving.gateway.app import GatewayApp, create_app
from serving.gateway.core.dataplane import DataPlane
from serving.gateway.frontends.grpc_v2 import inference_pb2 as pb
from serving.gateway.frontends.grpc_v2.service import handlers
from serving.gateway.observability.tracing import Tracing
from serving.gateway.settings import GatewaySettings
from serving.modelserver import ModelServerSettings
from tests.unit.gateway.scripted_servers import Server, serve

ANSWER = json.dumps({"label": ["b"], "probabilities": [[0.25, 0.75]]}).encode()
ROWS = {"name": "wine", "kind": "tabular-classification", "version": "1.0",
        "inputs": [{"name": "features", "shape": [-1, 2]}], "labels": ["a", "b"], "example": {"features": [0.5, 1.5]}}
V1_BODY = {"features": [0.5, 1.5]}
V2_BODY = {"inputs": [{"name": "features", "datatype": "FP32", "shape": [1, 2], "data": [0.5, 1.5]}]}
INFER = "/inference.GRPCInferenceService/ModelInfer"


def memory_tracing() -> tuple[Tracing, InMemorySpanExporter]:
    """The gateway's Tracing over a provider that exports each finished span to memory."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return Tracing(provider), exporter


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
    tracing, exporter = memory_tracing()
    torchserve = ScriptedTorchServe()
    async with serve(torchserve.reply) as server:
        torchserve.server = server
        app = create_app(GatewaySettings(_env_file=None, gateway_model_store=store,
                                         gateway_torchserve_url=f"http://127.0.0.1:{server.origin.port}", **settings),
                         ModelServerSettings(ts_model_store=store, ts_home=tmp_path / "home"),
                         tracing=tracing)
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
