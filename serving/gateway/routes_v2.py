"""The Open Inference Protocol v2 (KServe/Triton REST), with Triton's binary tensor data extension."""

import asyncio
import base64
import json
from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from serving.gateway import v2kinds
from serving.gateway.catalog import Catalog, ModelEntry
from serving.gateway.errors import HEALTH_ERRORS, ROUTE_ERRORS, InvalidInput
from serving.gateway.forward import forward
from serving.gateway.observability import current_request_id
from serving.gateway.routes_health import model_readiness
from serving.gateway.security import read_body
from serving.gateway.state import State, require_key, require_key_unless_open
from serving.gateway.v2codec import CodecError, InferRequest, Tensor, encode_response, parse_request

HEADER_LENGTH = "inference-header-content-length"
BASE64_IN_JSON = {"image"}  # BYTES outputs that carry binary content: base64 strings in JSON


def router(catalog: Catalog) -> APIRouter:
    """Server and model metadata, health, readiness and inference, with and without a version."""
    open_api = APIRouter(prefix="/v2", tags=["v2"], dependencies=[Depends(require_key_unless_open)],
                         responses=HEALTH_ERRORS)
    api = APIRouter(prefix="/v2", tags=["v2"], dependencies=[Depends(require_key)], responses=ROUTE_ERRORS)

    @open_api.get("/health/live", summary="The server is live")
    async def live() -> dict[str, bool]:
        return {"live": True}

    @open_api.get("/health/ready", summary="Every model is ready")
    async def ready(state: State) -> JSONResponse:
        ok = all((await model_readiness(state)).values())
        return JSONResponse({"ready": ok}, status_code=200 if ok else 503)

    @api.get("", summary="Server metadata")
    async def server_metadata() -> dict[str, Any]:
        return {"name": "torchserve-stack", "version": "0.1.0", "extensions": ["binary_tensor_data"]}

    async def model_metadata(state: State, name: str, version: str | None) -> dict[str, Any]:
        entry = state.catalog.get(name, version)
        inputs, outputs = v2kinds.contract(entry)
        platform = entry.signature.get("platform", "pytorch_torchscript")  # the served runtime, from the archive
        return {"name": entry.name, "versions": [entry.version], "platform": platform,
                "inputs": [t.as_metadata() for t in inputs], "outputs": [t.as_metadata() for t in outputs]}

    async def model_ready(state: State, name: str, version: str | None) -> JSONResponse:
        entry = state.catalog.get(name, version)
        ok = await state.upstream.ready(entry.name)
        return JSONResponse({"name": entry.name, "ready": ok}, status_code=200 if ok else 503)

    async def infer(request: Request, state: State, name: str, version: str | None) -> Response:
        entry = state.catalog.get(name, version)
        body = await read_body(request, state.settings.gateway_max_body_bytes)
        parsed = _parse(body, request.headers.get(HEADER_LENGTH))
        answers = await _answers(state, entry, parsed)
        outputs = v2kinds.outputs_from(entry, answers)
        binary = _binary_outputs(parsed, outputs)
        outputs = [_json_ready(t) if t.name not in binary and t.name in BASE64_IN_JSON else t for t in outputs]
        content, headers = encode_response(entry.name, entry.version, parsed.id, outputs, binary)
        return Response(content, headers=headers)

    docs = _infer_docs(catalog)

    @api.get("/models/{name}", summary="Model metadata")
    async def metadata(name: str, state: State) -> dict[str, Any]:
        return await model_metadata(state, name, None)

    @api.get("/models/{name}/versions/{version}", summary="Model metadata (a given version)")
    async def metadata_versioned(name: str, version: str, state: State) -> dict[str, Any]:
        return await model_metadata(state, name, version)

    @api.get("/models/{name}/ready", summary="Model readiness")
    async def ready_model(name: str, state: State) -> JSONResponse:
        return await model_ready(state, name, None)

    @api.get("/models/{name}/versions/{version}/ready", summary="Model readiness (a given version)")
    async def ready_versioned(name: str, version: str, state: State) -> JSONResponse:
        return await model_ready(state, name, version)

    @api.post("/models/{name}/infer", summary="Inference", response_class=Response, openapi_extra=docs)
    async def infer_latest(name: str, request: Request, state: State) -> Response:
        return await infer(request, state, name, None)

    @api.post("/models/{name}/versions/{version}/infer", summary="Inference (a given version)",
              response_class=Response, openapi_extra=docs)
    async def infer_versioned(name: str, version: str, request: Request, state: State) -> Response:
        return await infer(request, state, name, version)

    router_ = APIRouter()
    router_.include_router(open_api)
    router_.include_router(api)
    return router_


def _parse(body: bytes, header_length: str | None) -> InferRequest:
    length = None
    if header_length is not None:
        if not header_length.isdigit():
            raise InvalidInput("Inference-Header-Content-Length must be a number of bytes")
        length = int(header_length)
    try:
        return parse_request(body, length)
    except CodecError as exc:
        raise InvalidInput(str(exc)) from None


async def _answers(state: State, entry: ModelEntry, request: InferRequest) -> list[dict[str, Any]]:
    bodies = v2kinds.handler_requests(entry, request)
    results = await asyncio.gather(*(forward(state, entry, v2kinds.encode_json(b), "application/json",
                                             request_id=current_request_id()) for b in bodies))
    return [json.loads(result.body) for result in results]


def _binary_outputs(request: InferRequest, outputs: list[Tensor]) -> set[str]:
    names = {t.name for t in outputs}
    unknown = [o.name for o in request.requested_outputs if o.name not in names]
    if unknown:
        raise InvalidInput(f"unknown output(s) {unknown}; this model has {sorted(names)}")
    asked = {o.name: o.binary for o in request.requested_outputs}
    return {name for name in names if asked.get(name, request.binary_output_default)}


def _json_ready(tensor: Tensor) -> Tensor:
    assert isinstance(tensor.data, list)
    return replace(tensor, data=[base64.b64encode(item) for item in tensor.data])


def _infer_docs(catalog: Catalog) -> dict[str, Any]:
    examples = {entry.name: {"summary": entry.name, "value": v2kinds.example_infer(entry)} for entry in catalog}
    return {"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"type": "object", "required": ["inputs"], "properties": {"inputs": {"type": "array"}}},
        "examples": examples}}}}
