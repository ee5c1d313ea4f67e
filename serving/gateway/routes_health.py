"""Liveness, readiness and metrics: what Kubernetes probes and Prometheus scrape."""

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse

from serving.gateway.errors import HEALTH_ERRORS
from serving.gateway.state import State, require_key_unless_open


def router() -> APIRouter:
    """/livez, /readyz and /metrics."""
    api = APIRouter(tags=["health"], dependencies=[Depends(require_key_unless_open)], responses=HEALTH_ERRORS)

    @api.get("/livez", summary="The gateway process is up")
    async def livez() -> dict[str, str]:
        return {"status": "alive"}

    @api.get("/readyz", summary="TorchServe is reachable and every served model is ready")
    async def readyz(state: State) -> JSONResponse:
        ready = await model_readiness(state)
        body: dict[str, Any] = {"status": "ready" if ready and all(ready.values()) else "not ready",
                                "models": ready}
        return JSONResponse(body, status_code=200 if body["status"] == "ready" else 503)

    @api.get("/metrics", summary="Prometheus metrics of the gateway", response_class=Response)
    async def metrics(state: State) -> Response:
        body, content_type = state.metrics.render()
        return Response(body, media_type=content_type)

    return api


async def model_readiness(state: State) -> dict[str, bool]:
    """Each served model's readiness, asked of TorchServe concurrently."""
    names = state.catalog.names()
    ready = await asyncio.gather(*(state.lifecycle.ready(n, state.upstream.ready) for n in names))
    return dict(zip(names, ready, strict=True))
