"""The data plane and the key checks, reached from the FastAPI routes (metadata, health) through dependencies."""

from typing import Annotated

from fastapi import Depends, Request

from serving.gateway.core.dataplane import DataPlane


# The dependencies are `async def` on purpose: FastAPI runs a plain `def` dependency in a worker thread, which
# cost about a fifth of the gateway's CPU per request when profiled (docs/benchmarks.md).
async def get_plane(request: Request) -> DataPlane:
    """The running app's data plane (built in its lifespan)."""
    plane: DataPlane = request.app.state.plane
    return plane


Plane = Annotated[DataPlane, Depends(get_plane)]


async def require_key(request: Request, plane: Plane) -> None:
    """Dependency of every guarded route: a valid API key, or 401."""
    plane.keys.check(request.headers.get("authorization"))


async def require_key_unless_open(request: Request, plane: Plane) -> None:
    """Health and metrics: open by default (GATEWAY_OPEN_HEALTH), guarded otherwise."""
    if not plane.settings.gateway_open_health:
        plane.keys.check(request.headers.get("authorization"))
