"""The client's own deadline over REST: the `X-Request-Timeout-Ms` header, in whole milliseconds.

gRPC carries a deadline in every call; REST has no standard header for one, so the gateway documents this one
(docs/gateway.md). A request never waits past it: not in the coalescer's queue, not during an outage."""

import asyncio

from serving.gateway.core.errors import InvalidInput

REQUEST_TIMEOUT_HEADER = "x-request-timeout-ms"
# An hour: beyond it a "deadline" is a typo, and the gateway's own upstream timeout applies anyway.
MAX_TIMEOUT_MS = 3_600_000


def deadline_from(header: str | None) -> float | None:
    """The request's deadline on the event loop's clock, or None without the header; a bad value is a 400."""
    if header is None:
        return None
    text = header.strip()
    if not text.isdigit() or not 0 < int(text) <= MAX_TIMEOUT_MS:
        raise InvalidInput(f"X-Request-Timeout-Ms must be a whole number of milliseconds from 1 to {MAX_TIMEOUT_MS}, "
                           f"got {header[:40]!r}")
    return asyncio.get_running_loop().time() + int(text) / 1000
