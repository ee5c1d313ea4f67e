"""Reading an HTTP request body over ASGI under the gateway's size limit (GATEWAY_MAX_BODY_BYTES)."""

from starlette.requests import ClientDisconnect
from starlette.types import Receive

from serving.gateway.core.errors import PayloadTooLarge


async def receive_body(receive: Receive, declared: str | None, limit: int) -> bytes:
    """The body from ASGI `receive` messages, refused with 413 as soon as it is known to exceed `limit` bytes."""
    if declared is not None and _declared_over(declared, limit):
        size_text = declared if len(declared) <= 18 else "more than 10**18"  # never echo a huge header back
        raise PayloadTooLarge(f"request body of {size_text} bytes is over the limit of {limit} bytes")
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


def _declared_over(declared: str, limit: int) -> bool:
    """Whether a Content-Length (ASCII digits; the server has checked it, an ASGI caller may not have) is over
    `limit`: a Unicode digit or a run too long for `int()` is no number here, and the body's size decides."""
    digits = declared.lstrip("0")
    if not (declared.isascii() and declared.isdigit()):
        return False
    return len(digits) > 18 or int(digits or "0") > limit
