"""API-key authentication and the concurrency limit that protects TorchServe: the data plane's first checks."""

import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from serving.gateway.core.errors import Overloaded, Unauthorized


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
