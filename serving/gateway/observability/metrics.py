"""The gateway's Prometheus metrics, with labels of bounded cardinality, and the middleware that records them.

No label ever holds raw client input: routes are templates, models are known names or "unknown", methods are
standard ones or "other". A client sending random paths, names or methods cannot grow the series count.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable
from typing import Final, Literal, get_args

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.gateway.observability.logs import log_access

# Finer at the fast end than prometheus_client's defaults, where the gateway's own latencies lie (docs/benchmarks.md
# has the measured ones).
LATENCY_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
UNMATCHED_ROUTE: Final = "unmatched"
UNKNOWN_MODEL: Final = "unknown"  # the path names a model the gateway does not serve
NO_MODEL: Final = "-"  # the route is about no model (health, metrics, server metadata)
OTHER_METHOD: Final = "other"
# A client that went away before its answer (mid-body, say): nginx's "client closed request", not a server error.
CLIENT_CLOSED_REQUEST: Final = 499
# Probes and scrapes: their successes are logged at DEBUG, or they would fill the access log.
QUIET_ROUTES: Final = frozenset({"/livez", "/readyz", "/metrics"})
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

UpstreamErrorReason = Literal["unavailable", "timeout", "bad_status"]


def route_template(scope: Scope) -> str:
    """The matched route's template (`/v2/models/{name}/infer`); set by the router, so read it after the app ran."""
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) else UNMATCHED_ROUTE


def path_model(scope: Scope) -> str | None:
    """The `name` path parameter after routing: raw client input, fit for a log line, never for a label."""
    name = scope.get("path_params", {}).get("name")
    return name if isinstance(name, str) else None


class GatewayMetrics:
    """Request, upstream and error metrics in a registry of their own, so that several apps (and tests) never
    share series, beside the process's own (RSS, CPU, open fds; the interpreter; GC), which prometheus_client
    puts only in its global registry. `known_models` are the only model names that become label values."""

    def __init__(self, known_models: Iterable[str] = ()) -> None:
        self.known_models = frozenset(known_models)
        self.registry = CollectorRegistry()
        for collector in (ProcessCollector, PlatformCollector, GCCollector):  # read at scrape time, not per request
            collector(registry=self.registry)
        self.requests = Counter("gateway_requests_total", "HTTP requests answered by the gateway.",
                                ["model", "route", "method", "status"], registry=self.registry)
        self.request_duration = Histogram("gateway_request_duration_seconds", "Time to answer an HTTP request.",
                                          ["model", "route"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.upstream_duration = Histogram("gateway_upstream_duration_seconds", "Time TorchServe took to predict.",
                                           ["model"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.batch_requests = Histogram("gateway_batch_requests", "Client requests per call to TorchServe "
                                        "(coalesced into one envelope when more than one).", ["model"],
                                        buckets=(1, 2, 4, 8, 16, 32, 64, 128), registry=self.registry)
        self.in_flight = Gauge("gateway_in_flight_requests", "HTTP requests being answered now.",
                               registry=self.registry)
        self.upstream_errors = Counter("gateway_upstream_errors_total", "Predictions TorchServe did not answer.",
                                       ["model", "reason"], registry=self.registry)
        # Series that exist from the start let `rate()` and alerts see the first error, not only the second.
        for model in self.known_models:
            for reason in get_args(UpstreamErrorReason):
                self.upstream_errors.labels(model, reason)

    def model_label(self, name: str | None) -> str:
        """`name` when it is a known model, "unknown" when it is not, "-" when there is none."""
        if name is None:
            return NO_MODEL
        return name if name in self.known_models else UNKNOWN_MODEL

    def observe_request(self, model: str | None, route: str, method: str, status: int, seconds: float) -> None:
        """Count and time one answered request (`route` a template, `model` raw: both are bounded here)."""
        label = self.model_label(model)
        self.requests.labels(label, route, method if method in _METHODS else OTHER_METHOD, str(status)).inc()
        self.request_duration.labels(label, route).observe(seconds)

    def observe_batch(self, model: str, size: int) -> None:
        """Count one call to TorchServe carrying `size` client requests."""
        self.batch_requests.labels(self.model_label(model)).observe(size)

    def observe_upstream(self, model: str, seconds: float) -> None:
        """Time one prediction TorchServe answered."""
        self.upstream_duration.labels(self.model_label(model)).observe(seconds)

    def upstream_error(self, model: str, reason: UpstreamErrorReason) -> None:
        """Count one prediction TorchServe failed: "unavailable", "timeout" or "bad_status"."""
        self.upstream_errors.labels(self.model_label(model), reason).inc()

    def render(self) -> tuple[bytes, str]:
        """The body and content type of `GET /metrics`."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class MetricsMiddleware:
    """Counts, times and access-logs every HTTP request (pure ASGI: streaming untouched, no task per request).

    Route and model are read from the scope after the app returns, once the router has matched. A handler that
    raises before answering is recorded as the 500 the edge's guard will send; one that raises ClientDisconnect
    (the client left mid-request) as 499.
    """

    def __init__(self, app: ASGIApp, metrics: GatewayMetrics, access_log: bool = True,
                 quiet_routes: Collection[str] = QUIET_ROUTES) -> None:
        self.app = app
        self.metrics = metrics
        self.access_log = access_log
        self.quiet_routes = quiet_routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        error: Exception | None = None

        async def send_and_note_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self.metrics.in_flight.inc()
        start = time.perf_counter()
        try:
            await self.app(scope, receive, send_and_note_status)
        except ClientDisconnect:  # the client's doing: counted and logged as 499, without a traceback
            status = CLIENT_CLOSED_REQUEST
            raise
        except Exception as exc:  # noted for the access line, then left to the app's error handling
            error = exc
            raise
        finally:
            seconds = time.perf_counter() - start
            self.metrics.in_flight.dec()
            route, model = route_template(scope), path_model(scope)
            self.metrics.observe_request(model, route, scope["method"], status, seconds)
            if self.access_log:
                log_access(scope, route, model, status, seconds, error, quiet=route in self.quiet_routes)
