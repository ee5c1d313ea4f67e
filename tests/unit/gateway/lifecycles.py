"""A lifecycle with no traffic policy, for data-plane tests that are not about versions (the lifecycle's own
tests are in tests/unit/lifecycle)."""

from __future__ import annotations

from pathlib import Path

from serving.gateway.core.catalog import Catalog
from serving.gateway.core.lifecycle.control import Lifecycle
from serving.gateway.core.lifecycle.metrics import VersionMetrics
from serving.gateway.core.lifecycle.outage import OutageGate
from serving.gateway.core.lifecycle.runtime import LifecycleRuntime
from serving.gateway.core.lifecycle.shadow import ShadowMirror
from serving.gateway.observability import GatewayMetrics


def plain_lifecycle(catalog: Catalog, metrics: GatewayMetrics) -> LifecycleRuntime:
    """The lifecycle with no policy: every model's one version answers (the lifecycle's own tests are in
    tests/unit/lifecycle)."""
    async def no_management(method: str, path: str) -> tuple[int, str]:
        raise AssertionError("no management call on the request path")

    async def live(target: str) -> bool:
        return True

    by_version = VersionMetrics(metrics.registry)
    return LifecycleRuntime(Lifecycle(catalog, Path("."), no_management), OutageGate(live),
                            ShadowMirror(by_version.shadow_verdict), by_version)
