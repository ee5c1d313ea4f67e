"""The Open Inference Protocol v2 over REST (KServe/Triton), with Triton's binary tensor data extension: the
JSON or binary body to the codec's `InferRequest`, the data plane's output tensors back to the wire."""

import base64
from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.types import Receive

from serving.gateway.core.catalog import Catalog
from serving.gateway.core.dataplane import DataPlane
from serving.gateway.core.errors import InvalidInput
from serving.gateway.core.lifecycle.deadline import REQUEST_TIMEOUT_HEADER, deadline_from
from serving.gateway.core.lifecycle.policy import TRAFFIC_KEY_HEADER
from serving.gateway.frontends.body import receive_body
from serving.gateway.frontends.dependencies import Plane, require_key, require_key_unless_open
from serving.gateway.frontends.rest_errors import HEALTH_ERRORS, ROUTE_ERRORS
from serving.gateway.observability import current_request_id
from serving.gateway.v2codec import (
    CodecError,
    InferRequest,
    Tensor,
    encode_response,
    parse_header_length,
    parse_request,
)

INFER_PATH = "/v2/models/{name}/infer"
INFER_VERSIONED_PATH = "/v2/models/{name}/versions/{version}/infer"
HEADER_LENGTH = "inference-header-content-length"
BASE64_IN_JSON = {"image"}  # BYTES outputs that carry binary content: base64 strings in JSON


def router(catalog: Catalog) -> APIRouter:
    """Server and model metadata, health, readiness and inference, with and without a version."""
    api = APIRouter(prefix="/v2", tags=["v2"])  # one router: its routes are at hand for the lean path
    health: dict[str, Any] = {"dependencies": [Depends(require_key_unless_open)], "responses": HEALTH_ERRORS}
    guarded: dict[str, Any] = {"dependencies": [Depends(require_key)], "responses": ROUTE_ERRORS}
    # The key check of inference is the data plane's (admit), on the lean path and off it.
    inference: dict[str, Any] = {"responses": ROUTE_ERRORS, "response_class": Response,
                                 "openapi_extra": _infer_docs(catalog)}

    @api.get("/health/live", summary="The server is live", **health)
    async def live() -> dict[str, bool]:
        return {"live": True}

    @api.get("/health/ready", summary="Every model is ready", **health)
    async def ready(plane: Plane) -> JSONResponse:
        ok = all((await plane.readiness()).values())
        return JSONResponse({"ready": ok}, status_code=200 if ok else 503)

    @api.get("", summary="Server metadata", **guarded)
    async def server_metadata() -> dict[str, Any]:
        return {"name": "torchserve-stack", "version": "0.1.0", "extensions": ["binary_tensor_data"]}

    async def model_metadata(plane: DataPlane, name: str, version: str | None) -> dict[str, Any]:
        entry = plane.catalog.get(name, version)
        inputs, outputs = entry.contract
        platform = entry.signature.get("platform", "pytorch_torchscript")  # the served runtime, from the archive
        return {"name": entry.name, "versions": plane.catalog.versions(entry.name), "platform": platform,
                "inputs": [t.as_metadata() for t in inputs], "outputs": [t.as_metadata() for t in outputs],
                # An addition to the spec's fields (JSON clients ignore those they do not know), as gRPC's
                # ModelMetadata: whether the model streams (generate_stream, ModelStreamInfer).
                "parameters": {"streams": entry.model_kind.streams}}

    async def model_ready(plane: DataPlane, name: str, version: str | None) -> JSONResponse:
        entry, ok = await plane.ready(name, version)
        return JSONResponse({"name": entry.name, "ready": ok}, status_code=200 if ok else 503)

    @api.get("/models/{name}", summary="Model metadata", **guarded)
    async def metadata(name: str, plane: Plane) -> dict[str, Any]:
        return await model_metadata(plane, name, None)

    @api.get("/models/{name}/versions/{version}", summary="Model metadata (a given version)", **guarded)
    async def metadata_versioned(name: str, version: str, plane: Plane) -> dict[str, Any]:
        return await model_metadata(plane, name, version)

    @api.get("/models/{name}/ready", summary="Model readiness", **guarded)
    async def ready_model(name: str, plane: Plane) -> JSONResponse:
        return await model_ready(plane, name, None)

    @api.get("/models/{name}/versions/{version}/ready", summary="Model readiness (a given version)", **guarded)
    async def ready_versioned(name: str, version: str, plane: Plane) -> JSONResponse:
        return await model_ready(plane, name, version)

    # Both inference routes are normally answered before routing, on the lean path (frontends/lean.py).
    @api.post("/models/{name}/infer", summary="Inference", **inference)
    async def infer_latest(name: str, request: Request, plane: Plane) -> Response:
        return await answer_infer(plane, request.path_params, request.headers, request.receive)

    @api.post("/models/{name}/versions/{version}/infer", summary="Inference (a given version)", **inference)
    async def infer_versioned(name: str, version: str, request: Request, plane: Plane) -> Response:
        return await answer_infer(plane, request.path_params, request.headers, request.receive)

    return api


async def answer_infer(plane: DataPlane, params: dict[str, str], headers: Headers, receive: Receive) -> Response:
    """POST /v2/models/{name}[/versions/{version}]/infer: key check and model, then the body, decoded."""
    deadline = deadline_from(headers.get(REQUEST_TIMEOUT_HEADER))
    entry = plane.admit(headers.get("authorization"), params["name"], params.get("version"), None,
                        headers.get(TRAFFIC_KEY_HEADER))
    body = await receive_body(receive, headers.get("content-length"), plane.settings.gateway_max_body_bytes)
    request = _parse(body, headers.get(HEADER_LENGTH))
    outputs = await plane.infer(entry, request, current_request_id(), deadline)
    binary = _binary_outputs(request, outputs)
    outputs = [_json_ready(t) if t.name not in binary and t.name in BASE64_IN_JSON else t for t in outputs]
    content, response_headers = encode_response(entry.name, entry.version, request.id, outputs, binary)
    return Response(content, headers=response_headers)


def _parse(body: bytes, header_length: str | None) -> InferRequest:
    try:
        return parse_request(body, parse_header_length(header_length))
    except CodecError as exc:
        raise InvalidInput(str(exc)) from None


def _binary_outputs(request: InferRequest, outputs: list[Tensor]) -> set[str]:
    """The outputs to send in binary: those asked for so, else the request's default (the names are checked)."""
    asked = {o.name: o.binary for o in request.requested_outputs}
    return {t.name for t in outputs if asked.get(t.name, request.binary_output_default)}


def _json_ready(tensor: Tensor) -> Tensor:
    assert isinstance(tensor.data, list)
    return replace(tensor, data=[base64.b64encode(item) for item in tensor.data])


def _infer_docs(catalog: Catalog) -> dict[str, Any]:
    examples = {entry.name: {"summary": entry.name, "value": entry.model_kind.example_infer(entry.signature)}
                for entry in catalog}
    return {"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"type": "object", "required": ["inputs"], "properties": {"inputs": {"type": "array"}}},
        "examples": examples}}}}
