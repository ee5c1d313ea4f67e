"""Traces from a real gateway process, configured only by OTEL_* variables, exported by the SDK's OTLP/HTTP
exporter to a receiver here that decodes what a collector would: one span per REST v1, REST v2 and gRPC request
against the real TorchServe, each the child of the client's traceparent, with the model, protocol, batch and
upstream time."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from serving.gateway.frontends.grpc_v2 import inference_pb2 as pb
from serving.modelserver import ModelServerSettings
from tests.integration.conftest import AUTH, KEY
from tests.servers import free_ports, gateway_process

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
CLIENT_SPAN = "b7ad6b7169203331"
TRACEPARENT = f"00-{TRACE_ID}-{CLIENT_SPAN}-01"
MODEL = "mlp_classifier"


class Receiver(ThreadingHTTPServer):
    """An OTLP/HTTP endpoint: every span it is sent, with its resource's attributes."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.spans: list[tuple[dict[str, Any], Any]] = []
        self.paths: list[str] = []


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        request = ExportTraceServiceRequest.FromString(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.paths.append(self.path)
        for resource_spans in request.resource_spans:
            resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                self.server.spans += [(resource, span) for span in scope_spans.spans]
        answer = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's signature)
        """Quiet: the test reads what was received."""


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def traced_gateway(model_store: Path, server: ModelServerSettings, receiver: Receiver,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """A second gateway, its traces on by OTEL_* alone; yields its URL and gRPC port."""
    grpc_port = free_ports(1)[0]
    log = tmp_path_factory.mktemp("traced") / "gateway.log"
    with gateway_process(model_store, server, log, GATEWAY_API_KEYS=KEY, GATEWAY_GRPC_PORT=str(grpc_port),
                         OTEL_TRACES_EXPORTER="otlp", OTEL_SERVICE_NAME="gateway-under-test",
                         OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{receiver.server_address[1]}",
                         OTEL_BSP_SCHEDULE_DELAY="50") as (url, _):
        yield url, grpc_port


def attributes(span: Any) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for attribute in span.attributes:
        value = attribute.value
        values[attribute.key] = getattr(value, value.WhichOneof("value"))
    return values


def test_rest_v1_v2_and_grpc_requests_reach_the_collector_as_children_of_the_clients_trace(
        traced_gateway: tuple[str, int], receiver: Receiver) -> None:
    url, grpc_port = traced_gateway
    headers = {**AUTH, "traceparent": TRACEPARENT}
    with httpx.Client(base_url=url, timeout=60) as http:
        described = http.get(f"/v1/models/{MODEL}", headers=AUTH).json()
        v1 = http.post(f"/v1/models/{MODEL}/predict", json=described["example_request"], headers=headers)
        v2 = http.post(f"/v2/models/{MODEL}/infer", json=described["example_infer_request"], headers=headers)
    assert (v1.status_code, v2.status_code) == (200, 200), (v1.text, v2.text)
    (tensor,) = described["example_infer_request"]["inputs"]
    message = pb.ModelInferRequest(model_name=MODEL, inputs=[pb.ModelInferRequest.InferInputTensor(
        name=tensor["name"], datatype="FP32", shape=tensor["shape"],
        contents=pb.InferTensorContents(fp32_contents=tensor["data"]))])
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        infer = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer",
                                    request_serializer=lambda m: m.SerializeToString(),
                                    response_deserializer=pb.ModelInferResponse.FromString)
        answer = infer(message, metadata=(("authorization", f"Bearer {KEY}"), ("traceparent", TRACEPARENT)),
                       timeout=60)
    assert answer.model_name == MODEL
    deadline = time.monotonic() + 20
    while len([s for _, s in receiver.spans if s.trace_id.hex() == TRACE_ID]) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    traced = [(resource, span) for resource, span in receiver.spans if span.trace_id.hex() == TRACE_ID]
    assert set(receiver.paths) == {"/v1/traces"}
    assert [span.name for _, span in traced] == ["POST /v1/models/{name}/predict", "POST /v2/models/{name}/infer",
                                                "inference.GRPCInferenceService/ModelInfer"]
    for resource, span in traced:
        assert resource["service.name"] == "gateway-under-test"
        assert span.parent_span_id.hex() == CLIENT_SPAN
        found = attributes(span)
        assert 0 < found.pop("gateway.upstream.duration") < 60
        assert {k: found[k] for k in ("gateway.model.name", "gateway.model.version", "gateway.batch.size",
                                      "gateway.upstream.calls")} == {
            "gateway.model.name": MODEL, "gateway.model.version": described["version"], "gateway.batch.size": 1,
            "gateway.upstream.calls": 1}
    assert [attributes(span)["gateway.protocol"] for _, span in traced] == ["rest-v1", "rest-v2", "grpc"]
    # The un-traced GET made a span of its own trace; probes and scrapes (the fixture's /livez) made none.
    assert [span.name for _, span in receiver.spans if span.trace_id.hex() != TRACE_ID] == ["GET /v1/models/{name}"]
