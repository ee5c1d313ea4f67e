"""REST v1 streaming: `POST /v1/models/{name}/predict` with `"stream": true` answers Server-Sent Events, one
`data: {"text": ...}` per chunk, then `event: done` with the finish reason and token counts (or `event: error`)."""

import json
import logging
from collections.abc import AsyncGenerator
from typing import Any

from serving.gateway.core.catalog import ModelEntry
from serving.gateway.core.dataplane import DataPlane
from serving.gateway.core.errors import GatewayError, InvalidInput
from serving.gateway.streaming.engine import Chunk, TextStream, generation_request
from serving.gateway.streaming.sse import EventStreamResponse, event

log = logging.getLogger("serving.gateway")


def stream_asked(body: bytes, content_type: str) -> dict[str, Any] | None:
    """The request's fields when it asks for a stream; None when it does not (then it goes to the handler
    untouched, as every prediction does). The body is parsed only when it may hold a `stream` field."""
    if content_type != "application/json" or b'"stream"' not in body:
        return None
    try:
        fields = json.loads(body)
    except ValueError:
        return None  # the handler's own message for bad JSON
    if not isinstance(fields, dict) or "stream" not in fields:
        return None
    if not isinstance(fields["stream"], bool):
        raise InvalidInput("'stream' must be true or false")
    return fields if fields["stream"] else None


async def stream_response(plane: DataPlane, entry: ModelEntry, fields: dict[str, Any],
                          request_id: str | None) -> EventStreamResponse:
    """Open the stream (its errors are plain 4xx/5xx answers), then answer its events."""
    stream = TextStream(plane, entry, generation_request(entry, fields), request_id)
    await stream.open()
    return EventStreamResponse(_events(stream), plane.streams.limits.idle_timeout_s, on_close=stream.close)


async def _events(stream: TextStream) -> AsyncGenerator[bytes, None]:
    try:
        async for item in stream.events():
            if isinstance(item, Chunk):
                yield event({"text": item.text})
            else:
                yield event({"finish_reason": item.reason, "prompt_tokens": item.prompt_tokens,
                             "completion_tokens": item.completion_tokens, "seed": item.seed}, "done")
    except GatewayError as error:
        yield event({"error": error.message}, "error")
    except Exception:
        log.exception("stream of %s failed", stream.entry.name)
        yield event({"error": "the stream failed; see the gateway log"}, "error")
