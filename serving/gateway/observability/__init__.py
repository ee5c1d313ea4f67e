"""The gateway's observability: request ids, Prometheus metrics and JSON access logs, as pure ASGI middleware,
and OpenTelemetry traces when OTEL_* turns them on (tracing.py: one span per request, the edges open it, the data
plane notes into it).

    configure_logging(settings.gateway_log_level)            # once, before uvicorn.run(..., log_config=None)
    metrics = GatewayMetrics(known_models=catalog.names())
    edge = RequestIdMiddleware(MetricsMiddleware(app, metrics=metrics))  # once, around every route (app.py)
    body, content_type = metrics.render()                    # GET /metrics
    tracing = Tracing.of(settings.trace_exporters())          # None when off; TracingMiddleware(app, tracing)
"""

from serving.gateway.observability.logs import JsonFormatter, configure_logging, redact
from serving.gateway.observability.metrics import GatewayMetrics, MetricsMiddleware, UpstreamErrorReason
from serving.gateway.observability.request_ids import (
    REQUEST_ID_HEADER,
    RequestIdMiddleware,
    current_request_id,
    request_id_var,
)

__all__ = ["REQUEST_ID_HEADER", "GatewayMetrics", "JsonFormatter", "MetricsMiddleware", "RequestIdMiddleware",
           "UpstreamErrorReason", "configure_logging", "current_request_id", "redact", "request_id_var"]
