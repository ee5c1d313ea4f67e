"""Liveness, readiness and metrics: what Kubernetes probes and Prometheus scrape."""

from typing import Any

from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse

from serving.gateway.frontends.dependencies import Plane, require_key_unless_open
from serving.gateway.frontends.rest_errors import HEALTH_ERRORS


def router() -> APIRouter:
    """/livez, /readyz and /metrics."""
    api = APIRouter(tags=["health"], dependencies=[Depends(require_key_unless_open)], responses=HEALTH_ERRORS)

    @api.get("/livez", summary="The gateway process is up")
    async def livez() -> dict[str, str]:
        return {"status": "alive"}

    @api.get("/readyz", summary="TorchServe is reachable and every served model is ready")
    async def readyz(plane: Plane) -> JSONResponse:
        plane.upstream.check_keys()  # no token for TorchServe: 503 with the reason, as a prediction gets
        ready = await plane.readiness()
        body: dict[str, Any] = {"status": "ready" if ready and all(ready.values()) else "not ready",
                                "models": ready}
        return JSONResponse(body, status_code=200 if body["status"] == "ready" else 503)

    @api.get("/metrics", summary="Prometheus metrics of the gateway", response_class=Response)
    async def metrics(plane: Plane) -> Response:
        body, content_type = plane.metrics.render()
        return Response(body, media_type=content_type)

    return api
