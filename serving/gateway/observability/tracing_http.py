"""The HTTP edge's span: one per request, around every route (the lean inference path and FastAPI's alike), mounted
once in app.py only when tracing is on, so that off it is not in the request's path at all."""

from __future__ import annotations

from collections.abc import Collection

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.gateway.observability.metrics import QUIET_ROUTES, UNMATCHED_ROUTE, route_template
from serving.gateway.observability.tracing import Tracing

_EVENT_STREAM = b"text/event-stream"


class TracingMiddleware:
    """A SERVER span for each HTTP request: the client's `traceparent` its parent, named `{method} {route}` once
    the route is matched, with the answer's status and the data plane's notes. Probes and scrapes (`untraced`
    paths) make none: they are not clients' requests, and would be most of the spans."""

    def __init__(self, app: ASGIApp, tracing: Tracing, untraced: Collection[str] = QUIET_ROUTES) -> None:
        self.app = app
        self.tracing = tracing
        self.untraced = untraced

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.untraced:
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        status, streamed = 500, False  # what an exception before the answer becomes (the 500 guard's)

        async def send_noting_answer(message: Message) -> None:
            nonlocal status, streamed
            if message["type"] == "http.response.start":
                status = message["status"]
                streamed = any(name == b"content-type" and value.startswith(_EVENT_STREAM)
                               for name, value in message.get("headers", ()))
            await send(message)

        attributes = {"http.request.method": method, "url.path": scope["path"],
                      "url.scheme": scope.get("scheme", "http")}
        with self.tracing.serve(method, scope["headers"], attributes) as record:
            record.request_id = scope.get("state", {}).get("request_id")  # RequestIdMiddleware is outside
            try:
                await self.app(scope, receive, send_noting_answer)
            finally:
                route = route_template(scope)
                record.answered_http(method, None if route == UNMATCHED_ROUTE else route, status, streamed)
