"""Server-Sent Events: the encoding, and the ASGI response that writes a stream of events with backpressure,
an idle timeout and cancellation.

The events are pulled one at a time and the next is asked for only once the server took the one before
(uvicorn's `send` waits while its transport's buffer is over the high-water mark), so a slow reader holds one
event in the gateway, never a growing queue. A reader that takes no event for the idle timeout is dropped.
A client that disconnects cancels the iteration at once, which stops the generation behind it."""

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator, Callable
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

MEDIA_TYPE = "text/event-stream; charset=utf-8"
HEADERS = [(b"content-type", MEDIA_TYPE.encode()), (b"cache-control", b"no-cache"),
           (b"x-accel-buffering", b"no")]  # proxies such as nginx must not hold the events back


def event(data: dict[str, Any], name: str | None = None) -> bytes:
    """One SSE event whose data is a JSON object (one line: JSON escapes newlines inside strings)."""
    head = f"event: {name}\n" if name else ""
    return f"{head}data: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n".encode()


class EventStreamResponse(Response):
    """ASGI response: 200 `text/event-stream`, then each event of `events` as the reader takes it. (A Starlette
    Response only so that routes may return it; it writes itself.)"""

    def __init__(self, events: AsyncGenerator[bytes, None], idle_timeout_s: float,
                 headers: dict[str, str] | None = None, on_close: Callable[[], None] | None = None) -> None:
        self.status_code, self.background, self.events = 200, None, events
        self.on_close = on_close or (lambda: None)  # runs once the response is done, however it ended
        self.idle_timeout_s = idle_timeout_s
        self.raw_headers = HEADERS + [(k.lower().encode("latin-1"), v.encode("latin-1"))
                                      for k, v in (headers or {}).items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        writer = asyncio.create_task(self._write(send))
        watcher = asyncio.create_task(_disconnected(receive))
        try:
            await asyncio.wait({writer, watcher}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (writer, watcher):
                task.cancel()
            await asyncio.gather(writer, watcher, return_exceptions=True)
            with contextlib.suppress(Exception):
                await self.events.aclose()
            self.on_close()

    async def _write(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        try:
            async for data in self.events:
                async with asyncio.timeout(self.idle_timeout_s):
                    await send({"type": "http.response.body", "body": data, "more_body": True})
        except TimeoutError:
            return  # the reader stopped reading: the connection is dropped without the end of the body
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
