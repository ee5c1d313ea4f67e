"""What the app holds for its lifetime, reached from routes through FastAPI dependencies."""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from serving.gateway.batching import Coalescer
from serving.gateway.catalog import Catalog
from serving.gateway.lifecycle.runtime import LifecycleRuntime
from serving.gateway.observability import GatewayMetrics
from serving.gateway.security import Admission, ApiKeys
from serving.gateway.settings import GatewaySettings
from serving.gateway.upstream import TorchServeClient


@dataclass
class GatewayState:
    """The catalog, the TorchServe client (and its coalescer), the key check, the admission limit, the metrics,
    and the lifecycle (versions, traffic policy, outages)."""

    settings: GatewaySettings
    catalog: Catalog
    upstream: TorchServeClient
    keys: ApiKeys
    admission: Admission
    metrics: GatewayMetrics
    batcher: Coalescer
    lifecycle: LifecycleRuntime


# The dependencies are `async def` on purpose: FastAPI runs a plain `def` dependency in a worker thread, which
# cost about a fifth of the gateway's CPU per request when profiled (docs/benchmarks.md).
async def get_state(request: Request) -> GatewayState:
    """The running app's state."""
    state: GatewayState = request.app.state.gateway
    return state


State = Annotated[GatewayState, Depends(get_state)]


async def require_key(request: Request, state: State) -> None:
    """Dependency of every guarded route: a valid API key, or 401."""
    state.keys.check(request.headers.get("authorization"))


async def require_key_unless_open(request: Request, state: State) -> None:
    """Health and metrics: open by default (GATEWAY_OPEN_HEALTH), guarded otherwise."""
    if not state.settings.gateway_open_health:
        state.keys.check(request.headers.get("authorization"))
