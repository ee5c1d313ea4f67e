"""The data plane called as a gRPC or streaming front-end calls it: no ASGI scope, no HTTP request, only a raw
`authorization` value, the codec's `InferRequest` and a request id; answers are tensors, refusals domain errors."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from serving.gateway.core.admission import Admission, ApiKeys
from serving.gateway.core.batching import Coalescer
from serving.gateway.core.catalog import Catalog, ModelEntry
from serving.gateway.core.dataplane import DataPlane
from serving.gateway.core.errors import (
    InvalidInput,
    ModelNotFound,
    Overloaded,
    Unauthorized,
    UnsupportedMediaType,
    UpstreamError,
    UpstreamTimeout,
)
from serving.gateway.core.upstream import UpstreamResponse
from serving.gateway.observability import GatewayMetrics
from serving.gateway.v2codec import InferRequest, parse_request
from tests.unit.gateway.lifecycles import plain_lifecycle

pytestmark = pytest.mark.anyio
KEY = "k" * 16
AUTH = f"Bearer {KEY}"
WINE = ModelEntry("wine", "tabular-classification", "1", {"inputs": [{"name": "features", "shape": [-1, 2]}],
                                                          "labels": ["a", "b"]}, {}, "")


class FakeTorchServe:
    """Records each call; answers a classifier's JSON, or what `answer` is set to."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any, str, str | None, str | None]] = []
        self.answer: bytes | None = None
        self.hang = False

    async def send(self, model: str, body: bytes, content_type: str, accept: str | None,
                   request_id: str | None) -> UpstreamResponse:
        self.calls.append((model, json.loads(body), content_type, accept, request_id))
        if self.hang:
            await asyncio.sleep(10)
        payload = self.answer or json.dumps({"label": ["b"], "probabilities": [[0.25, 0.75]]}).encode()
        return UpstreamResponse(payload, "application/json", 0.002)


def plane_of(torchserve: FakeTorchServe, limit: int = 4, timeout_s: float = 5.0) -> DataPlane:
    settings: Any = SimpleNamespace(gateway_max_body_bytes=1000)
    upstream: Any = SimpleNamespace()  # readiness is not asked here
    metrics = GatewayMetrics(known_models={"wine"})
    catalog = Catalog([WINE])
    return DataPlane(settings, catalog, upstream, ApiKeys((KEY,)), Admission(limit), metrics,
                     Coalescer(torchserve.send, 8, 2, 4096, timeout_s, metrics.observe_batch),
                     plain_lifecycle(catalog, metrics),
                     streams=None)  # type: ignore[arg-type]  # no stream here (tests/unit/gateway/test_streaming_engine.py)


def request(**extra: Any) -> InferRequest:
    body = {"inputs": [{"name": "features", "datatype": "FP32", "shape": [1, 2], "data": [0.5, 1.5]}], **extra}
    return parse_request(json.dumps(body).encode(), None)


async def test_an_inference_without_http_is_checked_sent_and_answered_as_tensors() -> None:
    torchserve = FakeTorchServe()
    plane = plane_of(torchserve)
    entry, outputs = await plane.infer_model(AUTH, "wine", "1", request(), "req-1")
    assert entry is WINE
    assert torchserve.calls == [("wine", {"features": [[0.5, 1.5]]}, "application/json", None, "req-1")]
    assert [(t.name, t.datatype, t.shape) for t in outputs] == [("label", "BYTES", (1,)),
                                                              ("probabilities", "FP32", (1, 2))]
    assert outputs[0].data == [b"b"]
    assert np.asarray(outputs[1].data).tolist() == [[0.25, 0.75]]
    assert plane.metrics.registry.get_sample_value("gateway_upstream_duration_seconds_count", {"model": "wine"}) == 1


@pytest.mark.parametrize(("authorization", "message"), [(None, "missing API key: send 'Authorization: Bearer <key>'"),
                                                        ("Bearer nope", "invalid API key"),
                                                        (KEY, "missing API key: send 'Authorization: Bearer <key>'")])
async def test_the_key_is_checked_from_the_raw_authorization_value(authorization: str | None, message: str) -> None:
    torchserve = FakeTorchServe()
    with pytest.raises(Unauthorized) as refused:
        await plane_of(torchserve).infer_model(authorization, "wine", None, request())
    assert (refused.value.status, refused.value.message, torchserve.calls) == (401, message, [])


async def test_refusals_are_domain_errors_before_any_call_to_torchserve() -> None:
    torchserve = FakeTorchServe()
    plane = plane_of(torchserve)
    with pytest.raises(ModelNotFound, match="^model 'wine' has no version '2' \\(served: 1\\)$"):
        await plane.infer_model(AUTH, "wine", "2", request())
    with pytest.raises(InvalidInput, match=r"^unknown output\(s\) \['nope'\]; this model has \['label', "
                                           r"'probabilities'\]$"):
        await plane.infer(WINE, request(outputs=[{"name": "nope"}]))
    with pytest.raises(InvalidInput, match=r"^input 'features' must have shape \[-1, 2\] \(-1: any\), "
                                           r"got \[1, 3\]$"):
        await plane.infer(WINE, parse_request(json.dumps({"inputs": [
            {"name": "features", "datatype": "FP32", "shape": [1, 3], "data": [1, 2, 3]}]}).encode(), None))
    with pytest.raises(UnsupportedMediaType, match="^tabular-classification models take application/json, "
                                                   "not image/png$"):
        await plane.predict(WINE, b"\x89PNG", "image/png")
    with pytest.raises(UnsupportedMediaType, match="^tabular-classification models take application/json, "
                                                   "not text/plain$"):
        plane.admit(AUTH, "wine", None, "text/plain")
    with pytest.raises(InvalidInput, match="^empty request body$"):
        await plane.predict(WINE, b"", "application/json")
    assert torchserve.calls == []


async def test_a_v1_prediction_goes_to_the_handler_untouched() -> None:
    torchserve = FakeTorchServe()
    answer = await plane_of(torchserve).predict(WINE, b'{"features": [[1, 2]]}', "application/json", "*/*", "r-2")
    assert torchserve.calls == [("wine", {"features": [[1, 2]]}, "application/json", "*/*", "r-2")]
    assert json.loads(answer.body) == {"label": ["b"], "probabilities": [[0.25, 0.75]]}


async def test_an_answer_that_is_not_json_is_a_bad_gateway() -> None:
    torchserve = FakeTorchServe()
    torchserve.answer = b"<html>oops</html>"
    with pytest.raises(UpstreamError, match="^model 'wine' answered with something other than JSON$") as failed:
        await plane_of(torchserve).infer(WINE, request())
    assert failed.value.status == 502


async def test_admission_applies_to_every_caller() -> None:
    torchserve = FakeTorchServe()
    torchserve.hang = True
    plane = plane_of(torchserve, limit=1)
    first = asyncio.create_task(plane.infer(WINE, request()))
    while not torchserve.calls:  # until the first holds the one slot, out to TorchServe
        await asyncio.sleep(0)
    with pytest.raises(Overloaded, match="^the gateway is at its limit of 1 requests in flight; retry shortly$"):
        await plane.infer(WINE, request())
    first.cancel()


async def test_a_timeout_is_the_same_error_and_metric_for_every_caller() -> None:
    torchserve = FakeTorchServe()
    torchserve.hang = True
    plane = plane_of(torchserve, timeout_s=0.05)
    with pytest.raises(UpstreamTimeout, match="^model 'wine' did not answer in time$"):
        await plane.infer(WINE, request())
    assert plane.metrics.registry.get_sample_value("gateway_upstream_errors_total",
                                                   {"model": "wine", "reason": "timeout"}) == 1
