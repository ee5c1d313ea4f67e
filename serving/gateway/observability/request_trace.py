"""One traced request: its span and what the data plane noted for it (model, version, batch, upstream time),
written into the span when it ends, with its status as OpenTelemetry's semantic conventions for server spans
say. `current_trace` holds the request's record while its edge runs (serving/gateway/observability/tracing.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace as trace_api
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import Status, StatusCode

# gRPC codes that are the server's failure (the conventions for RPC server spans): UNKNOWN, DEADLINE_EXCEEDED,
# UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS. A client's mistake leaves the status unset.
GRPC_SERVER_ERRORS = frozenset({2, 4, 12, 13, 14, 15})
_CANCELLED, _UNKNOWN = (1, "CANCELLED"), (2, "UNKNOWN")


@dataclass(slots=True)
class RequestTrace:
    """One request's span and what the data plane noted for it, written into the span when it ends."""

    span: trace_api.Span
    rpc: bool = False  # a gRPC call (else HTTP)
    model: str | None = None
    version: str | None = None
    batch: int = 0  # the largest coalesced batch any of its calls to TorchServe rode in
    upstream_s: float = 0.0  # TorchServe's time, over all its calls (a stream makes one per chunk)
    upstream_calls: int = 0
    request_id: str | None = None
    grpc_code: tuple[int, str] | None = None
    failed: bool = False
    error_type: str | None = None

    def answered_http(self, method: str, route: str | None, status: int, streamed: bool) -> None:
        """The HTTP answer: the span's name and route, its status code and protocol; a 5xx is the span's error."""
        if route is not None:
            self.span.update_name(f"{method} {route}")
            self.span.set_attribute("http.route", route)
        self.span.set_attribute("http.response.status_code", status)
        protocol = "stream" if streamed else {"/v1/": "rest-v1", "/v2/": "rest-v2"}.get((route or "")[:4], "http")
        self.span.set_attribute("gateway.protocol", protocol)
        if status >= 500:  # a 4xx is the client's: the status stays unset, as the HTTP conventions say
            self.failed, self.error_type = True, str(status)

    def answered_grpc(self, code: int, name: str) -> None:
        """The call's gRPC status code (the first one noted counts)."""
        if self.grpc_code is None:
            self.grpc_code = (code, name)
            if code in GRPC_SERVER_ERRORS:
                self.failed, self.error_type = True, name

    def raised(self, error: BaseException) -> None:
        """An exception left the edge: the server failed, unless a gRPC status was already given or the client
        went away."""
        if isinstance(error, asyncio.CancelledError):
            if self.rpc:
                self.answered_grpc(*_CANCELLED)
            return
        if self.grpc_code is not None:  # the guard's abort, after its status was noted
            return
        self.span.record_exception(error)
        self.failed, self.error_type = True, type(error).__qualname__
        if self.rpc:
            self.answered_grpc(*_UNKNOWN)

    def end(self) -> None:
        """Write what was noted into the span and end it."""
        span = self.span
        attributes: dict[str, Any] = {"gateway.upstream.calls": self.upstream_calls}
        if self.model is not None:
            attributes["gateway.model.name"] = self.model
        if self.version is not None:
            attributes["gateway.model.version"] = self.version
        if self.upstream_calls:
            attributes["gateway.batch.size"] = self.batch
            attributes["gateway.upstream.duration"] = self.upstream_s
        if self.request_id is not None:
            attributes["gateway.request_id"] = self.request_id
        if self.grpc_code is not None:
            attributes["rpc.grpc.status_code"] = self.grpc_code[0]
        if self.error_type is not None:
            attributes["error.type"] = self.error_type
        span.set_attributes(attributes)
        if self.failed:
            span.set_status(Status(StatusCode.ERROR, self.error_type))
        span.end()


current_trace: ContextVar[RequestTrace | None] = ContextVar("gateway_request_trace", default=None)


class _PairsGetter(Getter[Iterable[tuple[Any, Any]]]):
    """Reads a propagator's fields from (name, value) pairs: ASGI headers (bytes) or gRPC metadata (str)."""

    def get(self, carrier: Iterable[tuple[Any, Any]], key: str) -> list[str] | None:
        wanted = key.lower()
        found = [_text(value) for name, value in carrier if _text(name).lower() == wanted]
        return found or None

    def keys(self, carrier: Iterable[tuple[Any, Any]]) -> list[str]:
        return [_text(name) for name, _ in carrier]


def _text(value: str | bytes) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else value


PAIRS = _PairsGetter()  # the getter both edges extract the client's trace context with
