"""The gateway's domain errors, each mapped once to an HTTP status and a `{"error": "..."}` body (the Open
Inference Protocol's error shape, used by v1 too)."""

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException


class GatewayError(Exception):
    """Base class: a status, a client-facing message and optional headers."""

    status = 500

    def __init__(self, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}


class InvalidInput(GatewayError):
    """The request cannot be answered as sent."""

    status = 400

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class Unauthorized(GatewayError):
    """No API key, or one the gateway does not know."""

    status = 401

    def __init__(self, message: str) -> None:
        super().__init__(message, {"WWW-Authenticate": "Bearer"})


class ModelNotFound(GatewayError):
    """No such model (or version)."""

    status = 404


class PayloadTooLarge(GatewayError):
    """The body is over the gateway's limit."""

    status = 413


class UnsupportedMediaType(GatewayError):
    """A content type the route does not take."""

    status = 415


class Overloaded(GatewayError):
    """More requests in flight than the gateway admits."""

    status = 429

    def __init__(self, message: str) -> None:
        super().__init__(message, {"Retry-After": "1"})


class ModelNotReady(GatewayError):
    """The model exists but cannot answer now (no ready worker, or TorchServe's queue is full)."""

    status = 503

    def __init__(self, message: str) -> None:
        super().__init__(message, {"Retry-After": "1"})


class WorkerDied(ModelNotReady):
    """TorchServe answered 507: the worker serving the request died (TorchServe restarts it by itself)."""


class UpstreamUnavailable(ModelNotReady):
    """TorchServe cannot be reached."""


class UpstreamError(GatewayError):
    """TorchServe failed in a way the client cannot fix (a retry may succeed)."""

    status = 502


class UpstreamTimeout(GatewayError):
    """TorchServe did not answer within the gateway's timeout."""

    status = 504

    @classmethod
    def of(cls, model: str) -> "UpstreamTimeout":
        """The one answer every way of waiting for a model gives when its time is up."""
        return cls(f"model {model!r} did not answer in time")


class ErrorBody(BaseModel):
    """The body of every error answer."""

    error: str


def _documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ErrorBody, "description": REASONS[status]} for status in statuses}


REASONS = {400: "Invalid input", 401: "Missing or invalid API key", 404: "Unknown model or version",
           413: "Body too large", 415: "Unsupported content type", 429: "Too many requests in flight",
           502: "The model failed", 503: "The model server or model is not ready", 504: "The model timed out"}
# Every error a guarded route can answer, for the OpenAPI document (schemathesis checks answers against it).
ROUTE_ERRORS = _documented(*REASONS)
HEALTH_ERRORS = _documented(401, 503)


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The one error body of the gateway."""
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def install(app: FastAPI) -> None:
    """Map domain errors, FastAPI's validation errors and unknown routes to `{"error": ...}`."""

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

    app.add_exception_handler(GatewayError, on_gateway_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
