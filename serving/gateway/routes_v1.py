"""REST v1: friendly JSON. The prediction body goes to TorchServe untouched (no parse, no re-encode), so
the gateway adds as little as it can; the handler validates it and its 4xx comes back as is."""

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from starlette.datastructures import Headers
from starlette.types import Receive

from serving.gateway import v2kinds
from serving.gateway.catalog import Catalog
from serving.gateway.errors import ROUTE_ERRORS, InvalidInput, UnsupportedMediaType
from serving.gateway.forward import forward
from serving.gateway.lifecycle.deadline import REQUEST_TIMEOUT_HEADER, deadline_from
from serving.gateway.lifecycle.policy import TRAFFIC_KEY_HEADER
from serving.gateway.lifecycle.runtime import VERSION_HEADER
from serving.gateway.observability import current_request_id
from serving.gateway.security import receive_body
from serving.gateway.state import GatewayState, State, require_key

MEDIA_TYPES = {
    "regression": ("application/json",),
    "tabular-classification": ("application/json",),
    "image-classification": ("application/json", "image/png", "image/jpeg"),
    "text-generation": ("application/json", "text/plain"),
    "image-generation": ("application/json",),
    "policy": ("application/json",),
}


def router(catalog: Catalog) -> APIRouter:
    """The v1 routes, with one working OpenAPI example per model in the catalog."""
    api = APIRouter(prefix="/v1", tags=["v1"], dependencies=[Depends(require_key)], responses=ROUTE_ERRORS)

    @api.get("/models", summary="Every served model with its kind, version and readiness")
    async def list_models(state: State) -> list[dict[str, Any]]:
        ready = await asyncio.gather(*(state.lifecycle.ready(m.name, state.upstream.ready) for m in state.catalog))
        return [{"name": m.name, "kind": m.kind, "version": m.version, "versions": state.catalog.versions(m.name),
                 "ready": r} for m, r in zip(state.catalog, ready, strict=True)]

    @api.get("/models/{name}", summary="A model's signature, metrics, model card and example v1 and v2 requests")
    async def describe(name: str, state: State) -> dict[str, Any]:
        entry = state.catalog.get(name)
        signature = {k: v for k, v in entry.signature.items() if k not in ("example", "vocab")}
        return {"name": entry.name, "kind": entry.kind, "version": entry.version,
                "versions": state.catalog.versions(entry.name), "signature": signature,
                "metrics": entry.metrics, "model_card": entry.card, "example_request": entry.example(),
                "example_infer_request": v2kinds.example_infer(entry),
                "ready": await state.lifecycle.ready(entry.name, state.upstream.ready)}

    @api.post("/models/{name}/predict", summary="Predict with a model (JSON shaped for its kind)",
              openapi_extra=_predict_docs(catalog), response_class=Response)
    async def predict(name: str, request: Request, state: State) -> Response:
        # Normally answered before routing by serving/gateway/fastpath.py, with the same function.
        return await answer_predict(state, name, request.headers, request.receive,
                                    request.query_params.get("version"))

    return api


async def answer_predict(state: GatewayState, name: str, headers: Headers, receive: Receive,
                         version: str | None = None) -> Response:
    """POST /v1/models/{name}/predict after the key check: the body goes to the model's handler untouched.
    `version` (the `version` query parameter) or the X-Model-Version header pins a version; otherwise the traffic
    policy picks one, and the answer's X-Model-Version says which."""
    deadline = deadline_from(headers.get(REQUEST_TIMEOUT_HEADER))
    entry = state.lifecycle.pick(name, version or headers.get(VERSION_HEADER), headers.get(TRAFFIC_KEY_HEADER))
    content_type = headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if content_type not in MEDIA_TYPES[entry.kind]:
        allowed = ", ".join(MEDIA_TYPES[entry.kind])
        raise UnsupportedMediaType(f"{entry.kind} models take {allowed}, not {content_type or 'nothing'}")
    body = await receive_body(receive, headers.get("content-length"), state.settings.gateway_max_body_bytes)
    if not body:
        raise InvalidInput("empty request body")
    result = await forward(state, entry, body, content_type, headers.get("accept"), current_request_id(), deadline)
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
