"""The gateway's domain errors as gRPC status codes: one table, read along each error's class hierarchy, so a
subclass maps as its parent unless the table names it (UpstreamUnavailable is a ModelNotReady: UNAVAILABLE).
The codes follow gRPC's own HTTP mapping; a client's mistake is never UNKNOWN or INTERNAL (INTERNAL is kept for
the server side's broken invariants: a model's answer that breaks its kind's contract, or a gateway bug)."""

from __future__ import annotations

import grpc

from serving.gateway.core.errors import (
    BadModelAnswer,
    GatewayError,
    InvalidInput,
    ModelNotFound,
    ModelNotReady,
    Overloaded,
    PayloadTooLarge,
    Unauthorized,
    UnsupportedMediaType,
    UpstreamError,
    UpstreamTimeout,
)

STATUS_CODES: dict[type[GatewayError], grpc.StatusCode] = {
    InvalidInput: grpc.StatusCode.INVALID_ARGUMENT,
    UnsupportedMediaType: grpc.StatusCode.INVALID_ARGUMENT,
    Unauthorized: grpc.StatusCode.UNAUTHENTICATED,
    ModelNotFound: grpc.StatusCode.NOT_FOUND,
    PayloadTooLarge: grpc.StatusCode.RESOURCE_EXHAUSTED,
    Overloaded: grpc.StatusCode.RESOURCE_EXHAUSTED,
    ModelNotReady: grpc.StatusCode.UNAVAILABLE,
    # TorchServe failed in a way a retry may mend (HTTP 502): UNAVAILABLE is gRPC's code for "retry".
    UpstreamError: grpc.StatusCode.UNAVAILABLE,
    # A 200 whose body breaks the kind's contract: a broken invariant of the server side (gRPC's INTERNAL; Triton
    # answers a model that fails to execute with it too), not UNAVAILABLE, which retry policies resend as is.
    BadModelAnswer: grpc.StatusCode.INTERNAL,
    UpstreamTimeout: grpc.StatusCode.DEADLINE_EXCEEDED,
    GatewayError: grpc.StatusCode.INTERNAL,
}
# HTTP headers of an error that mean something to a gRPC client too, sent as trailing metadata.
TRAILING_HEADERS = frozenset({"retry-after"})


def status_code(error: GatewayError) -> grpc.StatusCode:
    """The code of the nearest class of `error` that the table names."""
    for cls in type(error).__mro__:
        if cls in STATUS_CODES:
            return STATUS_CODES[cls]
    return grpc.StatusCode.INTERNAL


def trailing_metadata(error: GatewayError) -> tuple[tuple[str, str], ...]:
    """The error's headers that travel with its status (Retry-After)."""
    return tuple((name.lower(), value) for name, value in error.headers.items() if name.lower() in TRAILING_HEADERS)
