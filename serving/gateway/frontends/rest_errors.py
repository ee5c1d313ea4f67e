"""The REST front-ends' one mapping of errors to answers: domain errors (serving/gateway/core/errors.py),
FastAPI's validation errors, unknown routes and methods, and any unexpected exception all become
`{"error": "...", "request_id": "..."}` with the error's status (and the X-Request-ID header, which the edge's
request-id layer puts on every answer). `ErrorGuard`, in the edge, answers what escapes every route."""

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.gateway.core.errors import GatewayError
from serving.gateway.observability import current_request_id

# The one answer to a fault of the gateway's own: the details (the traceback) are in its log, under the id.
UNEXPECTED = "the gateway failed unexpectedly; its log has the details under this request's id"


class ErrorBody(BaseModel):
    """The body of every error answer."""

    error: str
    request_id: str | None = None  # the request's X-Request-ID, to quote when reporting the error


def _documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ErrorBody, "description": REASONS[status]} for status in statuses}


REASONS = {400: "Invalid input", 401: "Missing or invalid API key", 404: "Unknown model or version",
           413: "Body too large", 415: "Unsupported content type", 429: "Too many requests in flight",
           431: "Request headers too large to travel to the model server",
           502: "The model failed, or answered in a shape its kind's contract does not take",
           503: "The model server or model is not ready", 504: "The model timed out"}
# Every error a guarded route can answer, for the OpenAPI document (schemathesis checks answers against it).
ROUTE_ERRORS = _documented(*REASONS)
HEALTH_ERRORS = _documented(401, 503)


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The one error body of the gateway, with the id of the request being answered."""
    request_id = current_request_id()
    body = {"error": message} if request_id is None else {"error": message, "request_id": request_id}
    return JSONResponse(body, status_code=status, headers=headers)


def install(app: FastAPI) -> None:
    """Map domain errors, FastAPI's validation errors, unknown routes and unexpected exceptions to the error
    body."""

    async def on_gateway_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, GatewayError)
        return error_response(exc.status, exc.message, exc.headers)

    async def on_validation_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return error_response(400, f"invalid request: {where + ': ' if where else ''}{first.get('msg', 'bad input')}")

    async def on_http_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        return error_response(exc.status_code, str(exc.detail), dict(exc.headers or {}))

    async def on_unexpected(_: Request, __: Exception) -> JSONResponse:
        # Starlette's ServerErrorMiddleware sends this, then re-raises for the edge to log and `ErrorGuard` to end.
        return error_response(500, UNEXPECTED)

    app.add_exception_handler(GatewayError, on_gateway_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)


class ErrorGuard:
    """The edge's 500 guard, inside the request-id layer and around the metrics one (which counts and logs the
    exception, traceback included, on the request's access line): whatever a route raises ends here.

    A fault gets the one 500 error body if no answer was started; the exception is not raised further, so the
    server does not log it a second time. A client that left mid-request (ClientDisconnect: the metrics count
    it as 499) gets nothing: there is no one to read an answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_noting_start(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_noting_start)
        except ClientDisconnect:
            return
        except Exception:
            if not started:
                await error_response(500, UNEXPECTED)(scope, receive, send)
