"""What every gRPC call of the gateway goes through, in one wrapper: its bytes parsed here (so a malformed
message is INVALID_ARGUMENT, not the INTERNAL grpcio gives when its own deserializer fails), the key from the
`authorization` metadata, the request id, the status of every refusal (`status.py`), a 500 guard, metrics and,
when tracing is on, each unary call's span (serving/gateway/observability/tracing.py)."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn, Protocol

import grpc
from google.protobuf.message import DecodeError, Message

from serving.gateway.core.dataplane import DataPlane
from serving.gateway.core.errors import GatewayError, InvalidInput
from serving.gateway.core.lifecycle.policy import TRAFFIC_KEY_HEADER
from serving.gateway.frontends.grpc_v2.status import status_code, trailing_metadata
from serving.gateway.observability import tracing
from serving.gateway.observability.request_ids import accept_request_id, request_id_var
from serving.gateway.v2codec import CodecError

log = logging.getLogger("serving.gateway.grpc")


class Context(Protocol):
    """What the gateway uses of grpc.aio's ServicerContext (grpcio ships no type hints)."""

    def invocation_metadata(self) -> Sequence[tuple[str, str | bytes]] | None: ...

    def time_remaining(self) -> float | None: ...

    def done(self) -> bool: ...

    def set_trailing_metadata(self, trailing_metadata: tuple[tuple[str, str], ...]) -> None: ...

    async def write(self, message: Message) -> None: ...

    async def abort(self, code: grpc.StatusCode, details: str,
                    trailing_metadata: tuple[tuple[str, str], ...] = ()) -> NoReturn: ...


Unary = Callable[[Any, Context], Awaitable[Message]]
Streaming = Callable[[Any, Context], AsyncIterator[Message]]
Bidirectional = Callable[[AsyncIterator[bytes], Context], Awaitable[None]]


@dataclass(frozen=True)
class Call:
    """One method: its full name (`/package.Service/Method`), its request type, and whether it is let in
    without a key (health, when GATEWAY_OPEN_HEALTH)."""

    path: str
    request_type: type[Message]
    open: bool = False


# The traffic policy's sticky key, as REST's X-Traffic-Key header (gRPC metadata keys are lower case, as is the
# header's constant).
TRAFFIC_KEY = TRAFFIC_KEY_HEADER


def metadata_value(context: Context, key: str) -> str | None:
    """The first value of an invocation metadata key (gRPC lowercases keys)."""
    for name, value in context.invocation_metadata() or ():
        if name == key:
            return value if isinstance(value, str) else value.decode("latin-1")
    return None


class Guard:
    """Wraps the service's methods with what every call needs; one per server."""

    def __init__(self, plane: DataPlane) -> None:
        self.plane = plane

    def _admit(self, call: Call, raw: bytes, context: Context) -> Message:
        if not call.open:
            self.plane.keys.check(metadata_value(context, "authorization"))
        try:
            return call.request_type.FromString(raw)
        except DecodeError:
            raise InvalidInput(f"the request is not a valid {call.request_type.DESCRIPTOR.full_name} message") \
                from None

    def unary(self, call: Call, method: Unary) -> grpc.RpcMethodHandler:
        """A unary-unary handler that takes the request's raw bytes."""

        async def handle(raw: bytes, context: Context) -> bytes:
            started = time.perf_counter()
            request_id = accept_request_id((metadata_value(context, "x-request-id") or "").encode() or None)
            token = request_id_var.set(request_id)
            tracing.note_request_id(request_id)
            # The id goes back in the trailers, as REST's X-Request-ID header: they are sent anyway.
            trailers = (("x-request-id", request_id),)
            model = None
            try:
                request = self._admit(call, raw, context)
                model = _model_of(request)
                response = await method(request, context)
            except grpc.aio.AbortError:
                raise
            except (GatewayError, CodecError) as error:
                await self._refuse(call, context, error, started, model, trailers)
            except Exception:
                log.exception("gRPC %s failed", call.path)
                self._count(call, 500, started, model)
                _note_status(grpc.StatusCode.INTERNAL)
                await context.abort(grpc.StatusCode.INTERNAL, "internal error", trailers)
            finally:
                request_id_var.reset(token)
            self._count(call, 200, started, model)
            context.set_trailing_metadata(trailers)
            serialized: bytes = response.SerializeToString()
            return serialized

        traces = self.plane.tracing
        return grpc.unary_unary_rpc_method_handler(handle if traces is None else traces.grpc(call.path, handle))

    def streaming(self, call: Call, method: Streaming) -> grpc.RpcMethodHandler:
        """A unary-stream handler (health's Watch) that takes the request's raw bytes."""

        async def handle(raw: bytes, context: Context) -> AsyncIterator[bytes]:
            try:
                request = self._admit(call, raw, context)
            except GatewayError as error:
                await self._refuse(call, context, error, time.perf_counter(), None, ())
            async for response in method(request, context):
                yield response.SerializeToString()

        return grpc.unary_stream_rpc_method_handler(handle)

    def bidirectional(self, call: Call, method: Bidirectional) -> grpc.RpcMethodHandler:
        """A stream-stream handler (ModelStreamInfer): the key is checked once, when the call starts; the method
        parses each request's bytes itself (a bad one is that request's error, not the call's) and writes its
        responses with `context.write`."""

        async def handle(requests: AsyncIterator[bytes], context: Context) -> None:
            started = time.perf_counter()
            token = request_id_var.set(accept_request_id((metadata_value(context, "x-request-id") or "").encode()
                                                         or None))
            try:
                if not call.open:
                    self.plane.keys.check(metadata_value(context, "authorization"))
                await method(requests, context)
            except grpc.aio.AbortError:
                raise
            except GatewayError as error:
                await self._refuse(call, context, error, started, None, ())
            except Exception:
                log.exception("gRPC %s failed", call.path)
                self._count(call, 500, started, None)
                await context.abort(grpc.StatusCode.INTERNAL, "internal error")
            finally:
                request_id_var.reset(token)
            self._count(call, 200, started, None)

        # Requests come in as bytes (parsed by the method); responses go out through grpcio's serializer, as
        # `context.write` takes messages.
        return grpc.stream_stream_rpc_method_handler(handle, response_serializer=_serialize)

    async def _refuse(self, call: Call, context: Context, error: GatewayError | CodecError, started: float,
                      model: str | None, trailers: tuple[tuple[str, str], ...]) -> NoReturn:
        if isinstance(error, CodecError):
            error = InvalidInput(error.message)
        self._count(call, error.status, started, model)
        code = status_code(error)
        _note_status(code)
        await context.abort(code, error.message, trailing_metadata(error) + trailers)

    def _count(self, call: Call, status: int, started: float, model: str | None) -> None:
        # Counted as REST counts: gRPC calls are HTTP/2 POSTs, and the status is the one the same answer has on
        # REST, so that dashboards and alerts read both protocols alike.
        self.plane.metrics.observe_request(model, call.path, "POST", status, time.perf_counter() - started)


def _note_status(code: grpc.StatusCode) -> None:
    number, _ = code.value
    tracing.note_grpc_status(number, code.name)


def _model_of(request: Message) -> str | None:
    name = getattr(request, "model_name", None) or getattr(request, "name", None)
    return name if isinstance(name, str) and name else None


def _serialize(message: Message) -> bytes:
    serialized: bytes = message.SerializeToString()
    return serialized
