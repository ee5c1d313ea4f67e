"""The traffic policy over gRPC: ModelInfer goes through the data plane's `admit`, as REST does, so a canary's
weight holds over many calls (the REST tests' bound, tests/unit/lifecycle/test_policy.py), the `x-traffic-key`
metadata keeps a caller on one side of the split (the side REST's X-Traffic-Key header gives the same key), and
a pinned model_version is answered by that version."""

from __future__ import annotations

import random
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from serving.gateway.core.admission import Admission, ApiKeys
from serving.gateway.core.batching import Coalescer
from serving.gateway.core.catalog import Catalog, ModelEntry
from serving.gateway.core.dataplane import DataPlane
from serving.gateway.core.errors import Unauthorized
from serving.gateway.core.lifecycle.control import Lifecycle
from serving.gateway.core.lifecycle.metrics import VersionMetrics
from serving.gateway.core.lifecycle.outage import OutageGate
from serving.gateway.core.lifecycle.policy import ModelPolicy, Split, TrafficPolicy
from serving.gateway.core.lifecycle.runtime import LifecycleRuntime
from serving.gateway.core.lifecycle.shadow import ShadowMirror
from serving.gateway.core.upstream import UpstreamResponse
from serving.gateway.frontends.grpc_v2.service import InferenceService
from serving.gateway.observability import GatewayMetrics
from tests.unit.lifecycle.grpc_calls import ANSWER, SIGNATURE, Metadata, infer_message
from tests.unit.lifecycle.test_policy import BOUND_POINTS, N

pytestmark = pytest.mark.anyio
KEY = "grpc-traffic-key-0123456789"
AUTH = f"Bearer {KEY}"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Recorded:
    """TorchServe as the coalescer calls it: every target recorded, the classifier's answer returned."""

    def __init__(self) -> None:
        self.targets: list[str] = []

    async def send(self, target: str, body: bytes, content_type: str, accept: str | None,
                   request_id: str | None) -> UpstreamResponse:
        self.targets.append(target)
        return UpstreamResponse(ANSWER, "application/json", 0.001)


def plane_with_canary(percent: float, torchserve: Recorded) -> DataPlane:
    catalog = Catalog([ModelEntry("m", "tabular-classification", v, SIGNATURE, {}, "") for v in ("1.0", "1.1")])

    async def no_management(method: str, path: str) -> tuple[int, str]:
        raise AssertionError("no management call on the request path")

    async def live(target: str) -> bool:
        return True

    metrics = GatewayMetrics(known_models={"m"})
    by_version = VersionMetrics(CollectorRegistry())
    control = Lifecycle(catalog, Path("."), no_management, rng=random.Random(17))
    control.apply_policy(TrafficPolicy({"m": ModelPolicy("1.0", Split("1.1", percent))}))
    lifecycle = LifecycleRuntime(control, OutageGate(live), ShadowMirror(by_version.shadow_verdict), by_version)
    settings: Any = SimpleNamespace(gateway_max_body_bytes=10_000)
    return DataPlane(settings, catalog, SimpleNamespace(), ApiKeys((KEY,)), Admission(8),  # type: ignore[arg-type]
                     metrics, Coalescer(torchserve.send, 8, 2, 4096, 5.0, metrics.observe_batch), lifecycle,
                     streams=None)  # type: ignore[arg-type]  # no stream here


@pytest.mark.parametrize("percent", [10.0, 50.0])
async def test_canary_weights_hold_over_grpc_within_the_rest_bound(percent: float) -> None:
    torchserve = Recorded()
    service = InferenceService(plane_with_canary(percent, torchserve))
    context = Metadata(authorization=AUTH)
    versions = [(await service.model_infer(infer_message("m"), context)).model_version for _ in range(N)]
    canary = versions.count("1.1")
    assert versions.count("1.0") + canary == N
    assert abs(100 * canary / N - percent) < BOUND_POINTS
    assert torchserve.targets.count("m/1.1") == canary  # the answering version is the one called


async def test_the_traffic_key_metadata_keeps_a_caller_on_the_side_rest_gives_it() -> None:
    torchserve = Recorded()
    plane = plane_with_canary(30.0, torchserve)
    service = InferenceService(plane)
    sides = set()
    for i in range(200):
        context = Metadata(authorization=AUTH, x_traffic_key=f"user-{i}")
        versions = {(await service.model_infer(infer_message("m"), context)).model_version for _ in range(10)}
        assert len(versions) == 1, f"user-{i} saw {versions}"
        assert versions == {plane.admit(AUTH, "m", traffic_key=f"user-{i}").version}  # REST's choice for the key
        sides |= versions
    assert sides == {"1.0", "1.1"}  # the keys do spread over both sides


async def test_a_pinned_version_wins_over_the_policy_and_the_key_is_checked() -> None:
    torchserve = Recorded()
    service = InferenceService(plane_with_canary(100.0, torchserve))
    pinned = await service.model_infer(infer_message("m", "1.0"), Metadata(authorization=AUTH, x_traffic_key="u"))
    assert (pinned.model_name, pinned.model_version) == ("m", "1.0")
    assert torchserve.targets == ["m/1.0"]
    with pytest.raises(Unauthorized, match="invalid API key"):
        await service.model_infer(infer_message("m"), Metadata(authorization="Bearer wrong-key-0123456789"))
