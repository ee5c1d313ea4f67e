"""Request ids, metrics and JSON logs of the gateway, on a tiny app with the gateway's route shapes."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, HTTPException

from serving.gateway.observability import (
    GatewayMetrics,
    JsonFormatter,
    MetricsMiddleware,
    RequestIdMiddleware,
    configure_logging,
    current_request_id,
    redact,
    request_id_var,
)

INFER = "/v2/models/{name}/infer"


def make_app(metrics: GatewayMetrics) -> FastAPI:
    """Routes shaped as the gateway's, mounted as the app factory mounts the middleware."""
    app = FastAPI()

    @app.post(INFER)
    async def infer(name: str) -> dict[str, Any]:
        if name == "missing":
            raise HTTPException(404, "no such model")
        logging.getLogger("tests.handler").info("predicting", extra={"model": name})
        return {"model": name, "request_id": current_request_id(),
                "in_flight": metrics.registry.get_sample_value("gateway_in_flight_requests")}

    @app.get("/livez")
    async def livez() -> dict[str, str]:
        return {"status": "alive"}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(RequestIdMiddleware)
    return app


def call(app: FastAPI, method: str, url: str, **kwargs: Any) -> httpx.Response:
    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            return await client.request(method, url, **kwargs)

    return asyncio.run(send())


@pytest.fixture
def metrics() -> GatewayMetrics:
    return GatewayMetrics(known_models={"mnist", "iris"})


@pytest.fixture
def app(metrics: GatewayMetrics) -> FastAPI:
    return make_app(metrics)


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    """JSON logs configured onto a buffer; the root and uvicorn loggers restored afterwards."""
    loggers = [logging.getLogger(name) for name in ("", "uvicorn", "uvicorn.error", "uvicorn.access")]
    saved = [(lg.handlers[:], lg.level, lg.propagate) for lg in loggers]
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    yield stream
    for lg, (handlers, level, propagate) in zip(loggers, saved, strict=True):
        lg.handlers[:] = handlers
        lg.setLevel(level)
        lg.propagate = propagate


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def access_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [line for line in lines(stream) if line["logger"] == "serving.gateway.access"]


def requests(metrics: GatewayMetrics, model: str, route: str, method: str, status: str) -> float | None:
    return metrics.registry.get_sample_value(
        "gateway_requests_total", {"model": model, "route": route, "method": method, "status": status})


def test_requests_counted_by_model_route_template_method_and_status(app: FastAPI, metrics: GatewayMetrics) -> None:
    for name in ("mnist", "mnist", "iris"):
        assert call(app, "POST", f"/v2/models/{name}/infer").status_code == 200
    assert call(app, "POST", "/v2/models/missing/infer").status_code == 404
    assert call(app, "GET", "/livez").status_code == 200

    assert requests(metrics, "mnist", INFER, "POST", "200") == 2
    assert requests(metrics, "iris", INFER, "POST", "200") == 1
    assert requests(metrics, "unknown", INFER, "POST", "404") == 1
    assert requests(metrics, "-", "/livez", "GET", "200") == 1
    labels = {"model": "mnist", "route": INFER}
    assert metrics.registry.get_sample_value("gateway_request_duration_seconds_count", labels) == 2
    assert metrics.registry.get_sample_value("gateway_request_duration_seconds_bucket", {**labels, "le": "10.0"}) == 2


def test_client_input_never_becomes_a_label(app: FastAPI, metrics: GatewayMetrics) -> None:
    assert call(app, "POST", "/v2/models/evil-name-1/infer").status_code == 200
    assert call(app, "GET", "/v2/evil-path-2/x").status_code == 404
    assert call(app, "BREW", "/livez").status_code == 405

    assert requests(metrics, "unknown", INFER, "POST", "200") == 1
    assert requests(metrics, "-", "unmatched", "GET", "404") == 1
    assert requests(metrics, "-", "/livez", "other", "405") == 1
    body, content_type = metrics.render()
    assert content_type.startswith("text/plain")
    assert b"gateway_requests_total{" in body
    assert b"evil" not in body
    assert b"BREW" not in body


def test_in_flight_counts_the_request_and_returns_to_zero_even_after_an_error(app: FastAPI,
                                                                             metrics: GatewayMetrics) -> None:
    assert call(app, "POST", "/v2/models/mnist/infer").json()["in_flight"] == 1
    response = call(app, "GET", "/boom")

    assert response.status_code == 500
    assert requests(metrics, "-", "/boom", "GET", "500") == 1
    assert metrics.registry.get_sample_value("gateway_in_flight_requests") == 0


def test_upstream_latency_and_errors(metrics: GatewayMetrics) -> None:
    metrics.observe_upstream("mnist", 0.02)
    metrics.upstream_error("mnist", "timeout")
    metrics.upstream_error("not-a-model", "unavailable")

    sample = metrics.registry.get_sample_value
    assert sample("gateway_upstream_duration_seconds_bucket", {"model": "mnist", "le": "0.01"}) == 0
    assert sample("gateway_upstream_duration_seconds_bucket", {"model": "mnist", "le": "0.025"}) == 1
    assert sample("gateway_upstream_duration_seconds_sum", {"model": "mnist"}) == pytest.approx(0.02)
    assert sample("gateway_upstream_errors_total", {"model": "mnist", "reason": "timeout"}) == 1
    assert sample("gateway_upstream_errors_total", {"model": "unknown", "reason": "unavailable"}) == 1
    # known models start at zero, so the first error is a visible increase
    assert sample("gateway_upstream_errors_total", {"model": "iris", "reason": "bad_status"}) == 0


def test_apps_do_not_share_metrics(metrics: GatewayMetrics) -> None:
    other = GatewayMetrics(known_models={"mnist"})
    call(make_app(metrics), "GET", "/livez")

    assert requests(metrics, "-", "/livez", "GET", "200") == 1
    assert requests(other, "-", "/livez", "GET", "200") is None


def test_client_request_id_is_accepted(app: FastAPI) -> None:
    response = call(app, "POST", "/v2/models/mnist/infer", headers={"X-Request-ID": "trace-1.a:b_C-9"})

    assert response.headers["X-Request-ID"] == "trace-1.a:b_C-9"
    assert response.json()["request_id"] == "trace-1.a:b_C-9"
    assert current_request_id() is None


@pytest.mark.parametrize("sent", [None, "", "has space", "<script>", "a/b", "x" * 129, "é"])
def test_missing_or_unsafe_request_id_is_replaced(app: FastAPI, sent: str | None) -> None:
    headers = {"X-Request-ID": sent.encode()} if sent is not None else {}
    response = call(app, "POST", "/v2/models/mnist/infer", headers=headers)

    request_id = response.headers["X-Request-ID"]
    assert len(request_id) == 32
    assert int(request_id, 16) >= 0
    assert response.json()["request_id"] == request_id


def test_request_id_is_also_on_error_responses_the_app_maps(app: FastAPI) -> None:
    response = call(app, "POST", "/v2/models/missing/infer", headers={"X-Request-ID": "r-404"})

    assert response.status_code == 404
    assert response.headers["X-Request-ID"] == "r-404"


def test_access_line_is_json_with_every_field(app: FastAPI, logs: io.StringIO) -> None:
    call(app, "POST", "/v2/models/mnist/infer", headers={"X-Request-ID": "req-7"})

    (line,) = access_lines(logs)
    assert datetime.fromisoformat(line.pop("ts")).utcoffset() == UTC.utcoffset(None)
    assert line.pop("duration_ms") >= 0
    assert line == {"level": "INFO", "logger": "serving.gateway.access", "message": f"POST {INFER} 200",
                    "request_id": "req-7", "method": "POST", "route": INFER, "path": "/v2/models/mnist/infer",
                    "status": 200, "model": "mnist", "client": "127.0.0.1"}
    (handler_line,) = [entry for entry in lines(logs) if entry["logger"] == "tests.handler"]
    assert handler_line["request_id"] == "req-7"
    assert handler_line["model"] == "mnist"


def test_unhandled_error_is_logged_with_its_traceback(app: FastAPI, logs: io.StringIO) -> None:
    call(app, "GET", "/boom", headers={"X-Request-ID": "req-500"})

    line = next(entry for entry in access_lines(logs) if entry["route"] == "/boom")
    assert (line["level"], line["status"], line["request_id"]) == ("ERROR", 500, "req-500")
    assert line["exc"].startswith("Traceback")
    assert line["exc"].endswith("RuntimeError: boom")


def test_probe_successes_are_quiet(app: FastAPI, logs: io.StringIO) -> None:
    call(app, "GET", "/livez")
    call(app, "POST", "/v2/models/mnist/infer")

    assert [line["route"] for line in access_lines(logs)] == [INFER]


def test_keys_and_tokens_never_logged(app: FastAPI, logs: io.StringIO) -> None:
    response = call(app, "POST", "/v2/models/mnist/infer?token=abc&api_key=xyz42&n=1",
                    headers={"Authorization": "Bearer secret-key-123", "X-Request-ID": "req-s"})

    assert response.status_code == 200
    output = logs.getvalue()
    assert access_lines(logs)[0]["path"] == "/v2/models/mnist/infer"
    for secret in ("secret-key-123", "abc", "xyz42"):
        assert secret not in output


def test_formatter_redacts_secrets_other_modules_log() -> None:
    record = logging.LogRecord("serving.gateway.upstream", logging.WARNING, __file__, 1,
                               "calling %s with Authorization: Bearer secret-key-123 and headers %s", (
                                   "http://ts:8080/predictions/mnist?token=abc", {"authorization": "raw-key-9"}),
                               None)
    record.api_key = "k-123"
    record.inference_token = "t-456"
    record.max_tokens = 16

    token = request_id_var.set("req-f")
    try:
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id_var.reset(token)

    assert line["message"] == ("calling http://ts:8080/predictions/mnist?token=[REDACTED] with Authorization: "
                               "Bearer [REDACTED] and headers {'authorization': '[REDACTED]'}")
    assert (line["api_key"], line["inference_token"], line["max_tokens"]) == ("[REDACTED]", "[REDACTED]", 16)
    assert line["request_id"] == "req-f"
    assert line["level"] == "WARNING"


@pytest.mark.parametrize(("text", "expected"), [
    ("GET /x?a=1&key=s3cr3t&b=2", "GET /x?a=1&key=[REDACTED]&b=2"),
    ("authorization=Basic dXNlcjpwYXNz", "authorization=Basic [REDACTED]"),
    ("max_tokens=16 tokens=3", "max_tokens=16 tokens=3"),
])
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_configure_logging_is_idempotent_and_silences_uvicorns_access_log(logs: io.StringIO) -> None:
    configure_logging("INFO", stream=logs)
    logging.getLogger("uvicorn.access").info('127.0.0.1 - "GET /v1/models?token=abc HTTP/1.1" 200')
    logging.getLogger("uvicorn.error").info("Application startup complete.")
    logging.getLogger("tests").debug("below the level")

    assert len(logging.getLogger().handlers) == 1
    assert [(line["logger"], line["message"]) for line in lines(logs)] == [
        ("uvicorn.error", "Application startup complete.")]
