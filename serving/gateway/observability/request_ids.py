"""Request ids: every HTTP request gets one (the client's, when safe, or a fresh one), in its log lines, in the
response's `X-Request-ID` header and in the call to TorchServe; `current_request_id()` reads it anywhere."""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar
from typing import Final

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER: Final = "X-Request-ID"

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

# Ids travel into log lines and TorchServe's headers, so a client's id is taken only when it is short and plain.
_SAFE_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")


def current_request_id() -> str | None:
    """The id of the request being served, or None outside a request."""
    return request_id_var.get()


def accept_request_id(header: bytes | None) -> str:
    """The client's id when it is 1–128 characters of `[A-Za-z0-9._:-]`, else a fresh uuid4 hex (never the input)."""
    if header is not None and _SAFE_REQUEST_ID.fullmatch(header):
        return header.decode("ascii")
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """Gives every HTTP request an id: in `scope["state"]["request_id"]`, `current_request_id()` and the
    response's `X-Request-ID` header. Mount it outermost so every other middleware's log lines carry it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = next((value for name, value in scope["headers"] if name == b"x-request-id"), None)
        request_id = accept_request_id(sent)
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        token = request_id_var.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)
