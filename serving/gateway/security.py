"""API-key authentication and the admission limits that protect TorchServe (body size, concurrency)."""

import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Request
from starlette.requests import ClientDisconnect
from starlette.types import Receive

from serving.gateway.errors import Overloaded, PayloadTooLarge, Unauthorized


class ApiKeys:
    """The accepted keys; a request's key is compared with every one in constant time."""

    def __init__(self, keys: tuple[str, ...]) -> None:
        self._keys = tuple(k.encode() for k in keys)

    @property
    def enabled(self) -> bool:
        """False in the local profile without keys: every request is let in."""
        return bool(self._keys)

    def check(self, authorization: str | None) -> None:
        """Raise Unauthorized unless the header is `Bearer <a known key>`."""
        if not self._keys:
            return
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("missing API key: send 'Authorization: Bearer <key>'")
        presented = token.strip().encode()
        matched = False
        for key in self._keys:  # no early exit: the time taken does not tell which key came close
            matched |= hmac.compare_digest(presented, key)
        if not matched:
            raise Unauthorized("invalid API key")


class Admission:
    """At most `limit` predictions in flight; the next one is refused at once with 429 and Retry-After,
    because a queue in the gateway would only hide the overload behind growing latency."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one slot for the duration of a prediction."""
        if self.in_flight >= self.limit:
            raise Overloaded(f"the gateway is at its limit of {self.limit} requests in flight; retry shortly")
        self.in_flight += 1  # single-threaded event loop: no lock needed between check and increment
        try:
            yield
        finally:
            self.in_flight -= 1


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to exceed `limit` bytes."""
    return await receive_body(request.receive, request.headers.get("content-length"), limit)


async def receive_body(receive: Receive, declared: str | None, limit: int) -> bytes:
    """The body from ASGI `receive` messages, refused with 413 as soon as it is known to exceed `limit` bytes."""
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"request body of {declared} bytes is over the limit of {limit} bytes")
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body is over the limit of {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
