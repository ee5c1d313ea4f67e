"""Triton's generate extension: `POST /v2/models/{name}[/versions/{version}]/generate` answers one JSON object,
`/generate_stream` the same objects as Server-Sent Events, one per chunk.

Request `{"id"?, "text_input", "parameters"?: {"max_tokens", "temperature", "top_k", "seed", "stream"}}` (the
parameters may also sit beside `text_input`, as Triton maps top-level fields to the model's inputs); answer
`{"id"?, "model_name", "model_version", "text_output"}`, and `{"error"}` for a failure, before or during a
stream. The stream's last event adds `finish_reason` and the token counts to an empty `text_output`."""

import json
import logging
from collections.abc import AsyncGenerator
from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from serving.gateway.core.answers import answer_object
from serving.gateway.core.catalog import ModelEntry
from serving.gateway.core.dataplane import DataPlane
from serving.gateway.core.errors import GatewayError, InvalidInput
from serving.gateway.frontends.body import receive_body
from serving.gateway.frontends.dependencies import Plane, require_key
from serving.gateway.frontends.rest_errors import ROUTE_ERRORS
from serving.gateway.observability import current_request_id
from serving.gateway.streaming.engine import Chunk, TextStream, generation_request, streams
from serving.gateway.streaming.sse import EventStreamResponse, event

log = logging.getLogger("serving.gateway")
STREAM_DOCS = {"responses": {"200": {"description": "One event per chunk, then one with the finish reason",
                                    "content": {"text/event-stream": {"schema": {"type": "string"}}}}}}
PARAMETERS = {"max_tokens": "max_new_tokens", "temperature": "temperature", "top_k": "top_k", "seed": "seed"}


def router() -> APIRouter:
    """The four generate routes (latest and versioned, whole and streamed)."""
    api = APIRouter(prefix="/v2", tags=["v2 generate"], dependencies=[Depends(require_key)], responses=ROUTE_ERRORS)

    @api.post("/models/{name}/generate", summary="Generate text (Triton's generate extension)")
    async def generate(name: str, request: Request, plane: Plane) -> Response:
        return await _whole(plane, request, name, None)

    @api.post("/models/{name}/versions/{version}/generate", summary="Generate text (a given version)")
    async def generate_versioned(name: str, version: str, request: Request, plane: Plane) -> Response:
        return await _whole(plane, request, name, version)

    @api.post("/models/{name}/generate_stream", summary="Generate text as Server-Sent Events",
              response_class=Response, openapi_extra=STREAM_DOCS)
    async def generate_stream(name: str, request: Request, plane: Plane) -> Response:
        return await _streamed(plane, request, name, None)

    @api.post("/models/{name}/versions/{version}/generate_stream", summary="Generate text as Server-Sent Events "
              "(a given version)", response_class=Response,
              openapi_extra=STREAM_DOCS)
    async def generate_stream_versioned(name: str, version: str, request: Request, plane: Plane) -> Response:
        return await _streamed(plane, request, name, version)

    return api


async def _read(plane: DataPlane, request: Request, name: str, version: str | None,
                stream: bool) -> tuple[ModelEntry, str | None, dict[str, Any]]:
    entry = plane.catalog.get(name, version)
    if not streams(entry):
        raise InvalidInput(f"model {entry.name!r} does not generate text; only text-generation models do")
    try:
        body = await receive_body(request.receive, request.headers.get("content-length"),
                                  plane.settings.gateway_max_body_bytes)
        document = json.loads(body)
    except ValueError:
        raise InvalidInput("the body must be a JSON object") from None
    if not isinstance(document, dict):
        raise InvalidInput("the body must be a JSON object")
    request_id = document.pop("id", None)
    if request_id is not None and not isinstance(request_id, str):
        raise InvalidInput("'id' must be a string")
    parameters = document.pop("parameters", {})
    if not isinstance(parameters, dict):
        raise InvalidInput("'parameters' must be an object")
    text = document.pop("text_input", None)
    if not isinstance(text, str):
        raise InvalidInput("'text_input' must be a string")
    given = {**document, **parameters}
    asked = given.pop("stream", stream)
    if asked is not stream:
        where = "generate_stream" if asked else "generate"
        raise InvalidInput(f"'stream' is {json.dumps(asked)[:20]} here; use /{where} for that")
    unknown = sorted(set(given) - set(PARAMETERS))
    if unknown:
        raise InvalidInput(f"unknown parameters {', '.join(unknown)[:200]}; known: {', '.join(PARAMETERS)}")
    return entry, request_id, {"prompt": text, **{PARAMETERS[k]: v for k, v in given.items()}}


def _answer(entry: ModelEntry, request_id: str | None, **fields: Any) -> dict[str, Any]:
    return {**({"id": request_id} if request_id is not None else {}), "model_name": entry.name,
            "model_version": entry.version, **fields}


async def _whole(plane: DataPlane, request: Request, name: str, version: str | None) -> Response:
    entry, request_id, fields = await _read(plane, request, name, version, stream=False)
    generation_request(entry, fields)  # the same checks as a stream's
    result = await plane.predict(entry, json.dumps(fields).encode(), "application/json", None, current_request_id())
    answer = answer_object(entry.name, result.body, "text")
    return Response(json.dumps(_answer(entry, request_id, text_output=answer["text"])),
                    media_type="application/json")


async def _streamed(plane: DataPlane, request: Request, name: str, version: str | None) -> Response:
    entry, request_id, fields = await _read(plane, request, name, version, stream=True)
    stream = TextStream(plane, entry, generation_request(entry, fields), current_request_id())
    await stream.open()
    return EventStreamResponse(_events(stream, request_id), plane.streams.limits.idle_timeout_s,
                               on_close=stream.close)


async def _events(stream: TextStream, request_id: str | None) -> AsyncGenerator[bytes, None]:
    entry = stream.entry
    try:
        async for item in stream.events():
            if isinstance(item, Chunk):
                yield event(_answer(entry, request_id, text_output=item.text))
            else:
                yield event(_answer(entry, request_id, text_output="", finish_reason=item.reason,
                                    prompt_tokens=item.prompt_tokens, completion_tokens=item.completion_tokens))
    except GatewayError as error:
        yield event({"error": error.message})
    except Exception:
        log.exception("generate_stream of %s failed", entry.name)
        yield event({"error": "the stream failed; see the gateway log"})
