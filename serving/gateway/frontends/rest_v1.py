"""REST v1: friendly JSON. The prediction body goes to TorchServe untouched (no parse, no re-encode), so
the gateway adds as little as it can; the handler validates it and its 4xx comes back as is."""

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from starlette.datastructures import Headers
from starlette.types import Receive

from serving.gateway.core.catalog import Catalog
from serving.gateway.core.dataplane import DataPlane
from serving.gateway.core.errors import UnsupportedMediaType
from serving.gateway.core.lifecycle.deadline import REQUEST_TIMEOUT_HEADER, deadline_from
from serving.gateway.core.lifecycle.policy import TRAFFIC_KEY_HEADER
from serving.gateway.core.lifecycle.runtime import VERSION_HEADER
from serving.gateway.frontends.body import receive_body
from serving.gateway.frontends.dependencies import Plane, require_key
from serving.gateway.frontends.rest_errors import ROUTE_ERRORS
from serving.gateway.frontends.stream_v1 import stream_asked, stream_response
from serving.gateway.observability import current_request_id

PREDICT_PATH = "/v1/models/{name}/predict"


def router(catalog: Catalog) -> APIRouter:
    """The v1 routes, with one working OpenAPI example per model in the catalog."""
    api = APIRouter(prefix="/v1", tags=["v1"], responses=ROUTE_ERRORS)
    guarded = [Depends(require_key)]

    @api.get("/models", summary="Every served model with its kind, version and readiness", dependencies=guarded)
    async def list_models(plane: Plane) -> list[dict[str, Any]]:
        ready = await asyncio.gather(*(plane.lifecycle.ready(m.name, plane.upstream.ready) for m in plane.catalog))
        return [{"name": m.name, "kind": m.kind, "version": m.version, "versions": plane.catalog.versions(m.name),
                 "ready": r} for m, r in zip(plane.catalog, ready, strict=True)]

    @api.get("/models/{name}", summary="A model's signature, metrics, model card and example v1 and v2 requests",
             dependencies=guarded)
    async def describe(name: str, plane: Plane) -> dict[str, Any]:
        entry = plane.catalog.get(name)
        signature = {k: v for k, v in entry.signature.items() if k not in ("example", "vocab")}
        return {"name": entry.name, "kind": entry.kind, "version": entry.version,
                "versions": plane.catalog.versions(entry.name), "streams": entry.model_kind.streams,
                "signature": signature,
                "metrics": entry.metrics, "model_card": entry.card, "example_request": entry.example(),
                "example_infer_request": entry.model_kind.example_infer(entry.signature),
                "ready": await plane.lifecycle.ready(entry.name, plane.upstream.ready)}

    @api.post("/models/{name}/predict", summary="Predict with a model (JSON shaped for its kind)",
              openapi_extra=_predict_docs(catalog), response_class=Response)
    async def predict(name: str, request: Request, plane: Plane) -> Response:
        # Normally answered before routing, on the lean path (serving/gateway/frontends/lean.py).
        params = {**request.path_params, **({"version": v} if (v := request.query_params.get("version")) else {})}
        return await answer_predict(plane, params, request.headers, request.receive)

    @api.post("/models/{name}/explain", summary="Explain a prediction: Integrated Gradients per pixel or feature",
              description=EXPLAIN_DESCRIPTION, openapi_extra=_explain_docs(catalog), response_class=Response,
              dependencies=guarded)
    async def explain(name: str, request: Request, plane: Plane) -> Response:
        content_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
        if content_type != "application/json":
            raise UnsupportedMediaType(f"explanations take application/json, not {content_type or 'nothing'}")
        entry = plane.catalog.get(name)
        body = await receive_body(request.receive, request.headers.get("content-length"),
                                  plane.settings.gateway_max_body_bytes)
        result = await plane.explain(entry, body, current_request_id())
        return Response(result.body, media_type=result.content_type)

    return api


async def answer_predict(plane: DataPlane, params: dict[str, str], headers: Headers, receive: Receive) -> Response:
    """POST /v1/models/{name}/predict: key, model and media type first, then the body, untouched, to the data
    plane."""
    content_type = headers.get("content-type", "application/json").split(";")[0].strip().lower()
    deadline = deadline_from(headers.get(REQUEST_TIMEOUT_HEADER))
    version = params.get("version") or headers.get(VERSION_HEADER)  # ?version=1.1 or X-Model-Version: 1.1
    entry = plane.admit(headers.get("authorization"), params["name"], version, content_type,
                        headers.get(TRAFFIC_KEY_HEADER))
    body = await receive_body(receive, headers.get("content-length"), plane.settings.gateway_max_body_bytes)
    fields = stream_asked(body, content_type)
    if fields is not None:
        return await stream_response(plane, entry, fields, current_request_id())
    result = await plane.predict(entry, body, content_type, headers.get("accept"), current_request_id(), deadline)
    return Response(result.body, media_type=result.content_type, headers={"X-Model-Version": result.version})


def _predict_docs(catalog: Catalog) -> dict[str, Any]:
    examples = {m.name: {"summary": f"{m.name} ({m.kind})", "value": m.example()} for m in catalog}
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"type": "object"}, "examples": examples},
                "image/png": {"schema": {"type": "string", "format": "binary"}},
                "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
                "text/plain": {"schema": {"type": "string"}},
            },
        },
        "responses": {
            "200": {"description": "The model's answer",
                    "content": {"application/json": {"schema": {"type": "object"}},
                                "image/png": {"schema": {"type": "string", "format": "binary"}}}},
        },
    }


EXPLAIN_DESCRIPTION = """Captum's Integrated Gradients, run in the model's handler through TorchServe's explanations
API: the attributions of the predicted class (or of `target`, a label or its index) for each pixel (`[H][W]`,
colour channels summed) or each feature, against a black image or a baseline row (`baseline`, all zeros by
default). `steps` (1-256, default 64) sets the integral's resolution; `convergence_delta` is
sum(attributions) − (score − baseline_score), the integral's error. One image, or up to 16 feature rows, a request;
image-classification, tabular-classification and regression models only (404 for the others)."""
EXPLAIN_EXAMPLE_STEPS = 64
EXPLAIN_RESPONSE_EXAMPLE = {
    "label": "class_1", "target": "class_1", "score": 0.96, "baseline_score": 0.99997, "convergence_delta": -1.7e-05,
    "attributions": [0.012, -0.051, 0.0], "feature_names": ["alcohol", "malic_acid", "ash"],
    "baseline": [0.0, 0.0, 0.0], "method": "integrated_gradients", "steps": 64}


def _explain_docs(catalog: Catalog) -> dict[str, Any]:
    examples = {m.name: {"summary": f"{m.name} ({m.kind})", "value": {**m.example(), "steps": EXPLAIN_EXAMPLE_STEPS}}
                for m in catalog if m.model_kind.explainable}
    return {
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": {"type": "object"}, "examples": examples}}},
        "responses": {"200": {"description": "The attributions, the explained target and the scores",
                              "content": {"application/json": {"schema": {"type": "object"},
                                                               "example": EXPLAIN_RESPONSE_EXAMPLE}}}},
    }
