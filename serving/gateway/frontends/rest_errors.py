"""The REST front-ends' one mapping of errors to answers: domain errors (serving/gateway/core/errors.py),
FastAPI's validation errors and unknown routes all become `{"error": ...}` with the error's status."""

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from serving.gateway.core.errors import GatewayError


class ErrorBody(BaseModel):
    """The body of every error answer."""

    error: str


def _documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ErrorBody, "description": REASONS[status]} for status in statuses}


REASONS = {400: "Invalid input", 401: "Missing or invalid API key", 404: "Unknown model or version",
           413: "Body too large", 415: "Unsupported content type", 429: "Too many requests in flight",
           431: "Request headers too large to travel to the model server",
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
