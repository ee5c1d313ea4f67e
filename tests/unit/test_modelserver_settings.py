"""ModelServerSettings: env vars of the same name, and validators that refuse unsafe values."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from serving.modelserver.settings import MIB, ModelServerSettings, get_settings, is_loopback


@pytest.fixture(autouse=True)
def _no_ts_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.upper().startswith("TS_")]:
        monkeypatch.delenv(name)


def test_defaults() -> None:
    settings = ModelServerSettings()
    assert (settings.ts_model_store, settings.ts_home, settings.ts_bind_host) == (
        Path("model_store"), Path(".torchserve"), "127.0.0.1")
    assert settings.ports() == {"ts_inference_port": 8080, "ts_management_port": 8081, "ts_metrics_port": 8082,
                                "ts_grpc_inference_port": 7070, "ts_grpc_management_port": 7071}
    assert (settings.ts_max_request_size, settings.ts_max_response_size) == (10 * MIB, 10 * MIB)
    assert (settings.ts_default_response_timeout, settings.ts_startup_timeout_s) == (60, 180)
    assert (settings.ts_models, settings.ts_profile) == ("all", "local")
    assert settings.inference_url == "http://127.0.0.1:8080"
    assert settings.management_url == "http://127.0.0.1:8081"
    assert settings.metrics_url == "http://127.0.0.1:8082"


def test_fields_are_read_from_env_vars_of_the_same_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TS_MODEL_STORE", "/srv/store")
    monkeypatch.setenv("TS_INFERENCE_PORT", "9090")
    monkeypatch.setenv("TS_PROFILE", "production")
    monkeypatch.setenv("TS_BIND_HOST", "0.0.0.0")
    settings = ModelServerSettings()
    assert (settings.ts_model_store, settings.ts_inference_port) == (Path("/srv/store"), 9090)
    # a wildcard bind is reached through loopback by a client on the same machine
    assert settings.inference_url == "http://127.0.0.1:9090"


@pytest.mark.parametrize(("field", "port"), [("ts_inference_port", 0), ("ts_metrics_port", 65536),
                                             ("ts_grpc_management_port", -1)])
def test_ports_outside_1_to_65535_are_refused(field: str, port: int) -> None:
    with pytest.raises(ValidationError, match=rf"{field} must be in 1\.\.65535, got {port}"):
        ModelServerSettings.model_validate({field: port})


def test_ports_must_differ() -> None:
    with pytest.raises(ValidationError, match="the ports must differ"):
        ModelServerSettings(ts_metrics_port=8080)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "example.com"])
def test_a_non_loopback_host_is_refused_outside_production(host: str) -> None:
    with pytest.raises(ValidationError, match=f"ts_bind_host '{host}' is not a loopback address"):
        ModelServerSettings(ts_bind_host=host)
    assert ModelServerSettings(ts_bind_host=host, ts_profile="production").ts_bind_host == host


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost", "LOCALHOST"])
def test_loopback_hosts(host: str) -> None:
    assert is_loopback(host)
    assert ModelServerSettings(ts_bind_host=host).ts_bind_host == host


def test_ipv6_urls_have_brackets() -> None:
    assert ModelServerSettings(ts_bind_host="::1").inference_url == "http://[::1]:8080"


@pytest.mark.parametrize(("field", "value"), [("ts_max_request_size", 0), ("ts_startup_timeout_s", -1),
                                              ("ts_models", ""), ("ts_profile", "staging")])
def test_other_bad_values_are_refused(field: str, value: object) -> None:
    with pytest.raises(ValidationError, match=field):
        ModelServerSettings.model_validate({field: value})


def test_get_settings_reads_the_environment_once(monkeypatch: pytest.MonkeyPatch) -> None:
    get_settings.cache_clear()
    monkeypatch.setenv("TS_MANAGEMENT_PORT", "9191")
    try:
        assert get_settings().ts_management_port == 9191
        assert get_settings() is get_settings()
    finally:
        get_settings.cache_clear()
