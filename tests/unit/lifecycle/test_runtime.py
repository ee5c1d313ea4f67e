"""The lifecycle on the request path: the policy's version answers, a pinned version is honoured, a shadow copy
never changes the client's answer nor makes it wait, and every answer is counted by version."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from serving.gateway.core.catalog import Catalog, ModelEntry
from serving.gateway.core.errors import ModelNotFound
from serving.gateway.core.lifecycle.control import Lifecycle
from serving.gateway.core.lifecycle.metrics import VersionMetrics
from serving.gateway.core.lifecycle.outage import OutageGate
from serving.gateway.core.lifecycle.policy import ModelPolicy, Split, TrafficPolicy
from serving.gateway.core.lifecycle.runtime import LifecycleRuntime
from serving.gateway.core.lifecycle.shadow import ShadowMirror
from serving.gateway.core.upstream import UpstreamResponse

pytestmark = pytest.mark.anyio


def runtime(policy: TrafficPolicy) -> tuple[LifecycleRuntime, CollectorRegistry]:
    catalog = Catalog([ModelEntry("m", "regression", v, {}, {}, "") for v in ("1.0", "1.1")])

    async def manage(method: str, path: str) -> tuple[int, str]:
        raise AssertionError("no management call on the request path")

    async def live(target: str) -> bool:
        return True

    registry = CollectorRegistry()
    metrics = VersionMetrics(registry)
    control = Lifecycle(catalog, Path("."), manage, rng=random.Random(5))
    control.apply_policy(policy)
    return LifecycleRuntime(control, OutageGate(live), ShadowMirror(metrics.shadow_verdict), metrics), registry


class TwoVersions:
    """1.0 answers `{"y": 1}` at once; 1.1 is the shadow: it answers something else, after `release`."""

    def __init__(self, shadow_fails: bool = False) -> None:
        self.release = asyncio.Event()
        self.targets: list[str] = []
        self.shadow_fails = shadow_fails

    async def send(self, target: str, body: bytes, content_type: str, accept: str | None,
                   request_id: str | None) -> UpstreamResponse:
        self.targets.append(target)
        if target == "m/1.1":
            await self.release.wait()
            if self.shadow_fails:
                raise RuntimeError("the candidate crashed")
            return UpstreamResponse(b'{"y": 2}', "application/json", 0.0)
        return UpstreamResponse(b'{"y": 1}', "application/json", 0.0)


@pytest.mark.parametrize("shadow_fails", [False, True])
async def test_a_shadow_copy_never_changes_the_answer_nor_makes_the_client_wait(shadow_fails: bool) -> None:
    lifecycle, registry = runtime(TrafficPolicy({"m": ModelPolicy("1.0", None, Split("1.1", 100.0))}))
    server = TwoVersions(shadow_fails)
    entry = lifecycle.pick("m", None, None)
    answer = await lifecycle.call(entry, server.send, b"{}", "application/json", None, None, None)
    assert (answer.body, answer.version) == (b'{"y": 1}', "1.0")  # answered while the copy still waits
    assert lifecycle.mirror.in_flight() == 1
    server.release.set()
    while lifecycle.mirror.in_flight():
        await asyncio.sleep(0)
    verdict = "error" if shadow_fails else "disagree"
    assert registry.get_sample_value("gateway_shadow_total", {"model": "m", "version": "1.1",
                                                               "verdict": verdict}) == 1
    assert server.targets == ["m/1.0", "m/1.1"]


async def test_the_policy_picks_the_version_and_a_pinned_one_is_honoured() -> None:
    lifecycle, registry = runtime(TrafficPolicy({"m": ModelPolicy("1.0", Split("1.1", 100.0))}))
    server = TwoVersions()
    server.release.set()
    assert lifecycle.pick("m", None, "user-1").version == "1.1"
    pinned = lifecycle.pick("m", "1.0", "user-1")
    answer = await lifecycle.call(pinned, server.send, b"{}", "application/json", None, None, None)
    assert answer.version == "1.0"
    assert registry.get_sample_value("gateway_version_requests_total",
                                     {"model": "m", "version": "1.0", "outcome": "ok"}) == 1
    with pytest.raises(ModelNotFound, match=r"model 'm' has no version '2.0' \(served: 1.0, 1.1\)"):
        lifecycle.pick("m", "2.0", None)
