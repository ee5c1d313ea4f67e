"""OpenTelemetry traces, off by default: one SERVER span per request, on every route of every protocol.

Who writes what, once:
- the edges open and close the span, a child of the client's W3C `traceparent`: `TracingMiddleware` around
  every HTTP route (serving/gateway/observability/tracing_http.py, mounted in app.py) and `Tracing.grpc` around
  every gRPC call (serving/gateway/frontends/grpc_v2/calls.py);
- the data plane notes the model, the version, the batch each call rode in and the upstream time (`note_model`,
  `note_upstream`), and the TorchServe client sends the trace on (`inject`). Off, each of these is one read of a
  context variable that holds nothing.

What turns it on is the GatewaySettings' `trace_exporters()` (OTEL_TRACES_EXPORTER, OTEL_SDK_DISABLED); the rest
is the SDK's own OTEL_* variables (endpoint, headers, sampler, resource, batch processor, propagators).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import propagate
from opentelemetry import trace as trace_api
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.trace import SpanKind

from serving.gateway.observability.request_trace import PAIRS, RequestTrace, current_trace

DEFAULT_SERVICE_NAME = "torchserve-gateway"  # unless OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES names one


class _Metadata(Protocol):
    def invocation_metadata(self) -> Sequence[tuple[str, str | bytes]] | None: ...


C = TypeVar("C", bound=_Metadata)
UnaryHandler = Callable[[bytes, C], Awaitable[bytes]]


def note_model(name: str, version: str) -> None:
    """The model version answering the request being traced (nothing when tracing is off)."""
    record = current_trace.get()
    if record is not None:
        record.model, record.version = name, version


def note_upstream(batch: int, seconds: float) -> None:
    """One call to TorchServe for the request being traced: the batch it rode in and its time."""
    record = current_trace.get()
    if record is not None:
        record.upstream_calls += 1
        record.upstream_s += seconds
        record.batch = max(record.batch, batch)


def note_request_id(request_id: str) -> None:
    """The request id of the request being traced (gRPC's; HTTP's is read from the scope)."""
    record = current_trace.get()
    if record is not None:
        record.request_id = request_id


def note_grpc_status(code: int, name: str) -> None:
    """The gRPC status the call is refused with (its number and name)."""
    record = current_trace.get()
    if record is not None:
        record.answered_grpc(code, name)


def inject(headers: dict[str, str]) -> None:
    """Add the traced request's context (`traceparent`, and what OTEL_PROPAGATORS adds) to an upstream call."""
    if current_trace.get() is not None:
        propagate.inject(headers)


class Tracing:
    """The gateway's tracer over its own provider (never the process-global one, so apps and tests stay apart)."""

    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider
        self._tracer = provider.get_tracer("serving.gateway")

    @classmethod
    def of(cls, exporters: Sequence[str]) -> Tracing | None:
        """The process's tracing for `exporters` (GatewaySettings.trace_exporters()); None when there are none."""
        if not exporters:
            return None
        provider = TracerProvider(resource=service_resource())
        for name in exporters:
            provider.add_span_processor(BatchSpanProcessor(_exporter(name)))
        return cls(provider)

    @contextmanager
    def serve(self, name: str, carrier: Iterable[tuple[Any, Any]],
              attributes: Mapping[str, Any], rpc: bool = False) -> Iterator[RequestTrace]:
        """A SERVER span for one request, current while the block runs (for the data plane's notes and the
        upstream call's traceparent), the child of the trace context `carrier` holds."""
        parent = propagate.extract(carrier, getter=PAIRS)
        span = self._tracer.start_span(name, parent, SpanKind.SERVER, dict(attributes))
        record = RequestTrace(span, rpc)
        attached = otel_context.attach(trace_api.set_span_in_context(span, parent))
        current = current_trace.set(record)
        try:
            yield record
        except BaseException as error:
            record.raised(error)
            raise
        finally:
            current_trace.reset(current)
            otel_context.detach(attached)
            record.end()

    def grpc(self, path: str, handle: UnaryHandler[C]) -> UnaryHandler[C]:
        """`handle` (a unary call's bytes in, bytes out) inside a span named as the call (`package.Service/Method`)."""
        name = path.lstrip("/")
        service, _, method = name.partition("/")
        attributes = {"rpc.system": "grpc", "rpc.service": service, "rpc.method": method, "gateway.protocol": "grpc"}

        async def traced(raw: bytes, context: C) -> bytes:
            with self.serve(name, context.invocation_metadata() or (), attributes, rpc=True) as record:
                answer = await handle(raw, context)
                record.answered_grpc(0, "OK")
                return answer

        return traced

    def flush(self, timeout_s: float = 5.0) -> None:
        """Export the spans still queued (at shutdown)."""
        self.provider.force_flush(int(timeout_s * 1000))


def service_resource() -> Resource:
    """The SDK's resource (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES), named `torchserve-gateway` unless they
    name the service."""
    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: DEFAULT_SERVICE_NAME}))
    return resource


def _exporter(name: str) -> SpanExporter:
    if name == "console":
        return ConsoleSpanExporter()
    # Imported only when used: it brings protobuf messages and an HTTP client the gateway otherwise never loads.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()  # OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT, _HEADERS, _TIMEOUT, _COMPRESSION
