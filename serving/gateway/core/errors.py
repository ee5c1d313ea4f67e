"""The gateway's domain errors: what the data plane raises, whatever the protocol. Each class carries its HTTP
status once (the REST front-ends answer it with a `{"error": "..."}` body, the Open Inference Protocol's error
shape, used by v1 too); a gRPC front-end maps the same classes to its status codes. No web framework here."""


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


class BadModelAnswer(UpstreamError):
    """TorchServe answered 200, but not in the shape the model kind's contract takes (not JSON, a wrong type,
    a missing key, the wrong number of items): the model's fault, not the client's, and a retry gets the same."""


class UpstreamTimeout(GatewayError):
    """TorchServe did not answer within the gateway's timeout."""

    status = 504

    @classmethod
    def of(cls, model: str) -> "UpstreamTimeout":
        """The one answer every way of waiting for a model gives when its time is up."""
        return cls(f"model {model!r} did not answer in time")
