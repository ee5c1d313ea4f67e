"""What the data plane notes into each request's span, on REST v1, REST v2 and gRPC alike: the model, version,
protocol, batch and upstream time; the client's traceparent continued and sent on to TorchServe, a batch's envelope
carrying its first request's trace."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from tests.unit.gateway.traced_gateway import V1_BODY, V2_BODY, gateway, grpc_infer

pytestmark = pytest.mark.anyio
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{CLIENT_SPAN}-01"


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
