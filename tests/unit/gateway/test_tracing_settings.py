"""What turns the gateway's tracing on and where it exports: the OTEL_* settings it honours, those that stop its
start-up, the app with tracing off, and the service's name on every span."""

from __future__ import annotations

from pathlib import Path

import pytest

import serving.gateway.__main__ as entry
from serving.gateway.app import GatewayApp, create_app
from serving.gateway.observability.tracing import Tracing, inject, service_resource
from serving.gateway.settings import GatewaySettings, get_settings
from serving.modelserver import ModelServerSettings


@pytest.mark.parametrize(("env", "exporters"), [
    ({}, ()),  # off by default
    ({"OTEL_TRACES_EXPORTER": "otlp"}, ("otlp",)),
    ({"OTEL_TRACES_EXPORTER": "otlp, console"}, ("otlp", "console")),
    ({"OTEL_TRACES_EXPORTER": "none"}, ()),
    ({"OTEL_SDK_DISABLED": "false"}, ("otlp",)),  # the SDK on, with the spec's default exporter
    ({"OTEL_SDK_DISABLED": "false", "OTEL_TRACES_EXPORTER": "console"}, ("console",)),
    ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, ()),  # disabled wins
    ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, ("otlp",)),
])
def test_what_turns_tracing_on(monkeypatch: pytest.MonkeyPatch, env: dict[str, str],
                               exporters: tuple[str, ...]) -> None:
    for name in ("OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_PROTOCOL",
                 "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert GatewaySettings(_env_file=None).trace_exporters() == exporters


@pytest.mark.parametrize(("env", "message"), [
    ({"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER: unknown exporter 'zipkin'; the gateway has otlp, "
                                         "console (or none)"),
    ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc"},
     "OTEL_EXPORTER_OTLP_PROTOCOL: the gateway exports OTLP as http/protobuf (port 4318), not 'grpc'"),
])
def test_a_tracing_setting_the_gateway_cannot_honour_stops_the_start_up(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], env: dict[str, str],
        message: str) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        assert entry.main() == 2
    finally:
        get_settings.cache_clear()
    assert capsys.readouterr().err == f"error: invalid gateway settings: {message}\n"


def test_off_the_edge_has_no_tracing_layer_and_nothing_is_sent_on(tmp_path: Path) -> None:
    app = create_app(GatewaySettings(_env_file=None, gateway_model_store=tmp_path),
                     ModelServerSettings(ts_model_store=tmp_path, ts_home=tmp_path / "home"))
    assert isinstance(app, GatewayApp)
    layers, layer = [], app.edge
    while layer is not None and not isinstance(layer, type(app.route)):
        layers.append(type(layer).__name__)
        layer = getattr(layer, "app", None)
    assert layers == ["RequestIdMiddleware", "ErrorGuard", "MetricsMiddleware"]
    headers: dict[str, str] = {}
    inject(headers)
    assert headers == {}
    assert Tracing.of(()) is None


def test_the_service_is_named_unless_the_environment_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES", raising=False)
    assert service_resource().attributes["service.name"] == "torchserve-gateway"
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "service.name=edge,deployment.environment=prod")
    assert service_resource().attributes["service.name"] == "edge"
    monkeypatch.setenv("OTEL_SERVICE_NAME", "gateway-eu")
    resource = service_resource()
    assert (resource.attributes["service.name"], resource.attributes["deployment.environment"]) == ("gateway-eu",
                                                                                                   "prod")
    tracing = Tracing.of(("console",))
    assert tracing is not None
    assert tracing.provider.resource.attributes["service.name"] == "gateway-eu"
    tracing.provider.shutdown()
