"""The settings a container deployment adds: TorchServe without tokens behind a NetworkPolicy (production only,
management on loopback), and a gateway that reaches a TorchServe in another pod."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from serving.gateway.settings import GatewaySettings
from serving.modelserver.keys import NO_KEYS, TokenKeys, server_keys
from serving.modelserver.properties import render
from serving.modelserver.settings import ModelServerSettings

CONTAINER = {"ts_profile": "production", "ts_bind_host": "0.0.0.0", "ts_management_bind_host": "127.0.0.1",
             "ts_token_auth": False}


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.upper().startswith(("TS_", "GATEWAY_"))]:
        monkeypatch.delenv(name)


def test_container_settings_render_no_token_and_private_management() -> None:
    lines = render(ModelServerSettings.model_validate(CONTAINER)).splitlines()
    assert "inference_address=http://0.0.0.0:8080" in lines
    assert "metrics_address=http://0.0.0.0:8082" in lines
    assert "management_address=http://127.0.0.1:8081" in lines
    assert "grpc_inference_address=127.0.0.1" in lines
    assert "grpc_management_address=127.0.0.1" in lines
    assert "disable_token_authorization=true" in lines
    assert ModelServerSettings.model_validate(CONTAINER).management_url == "http://127.0.0.1:8081"


def test_local_defaults_are_unchanged() -> None:
    settings = ModelServerSettings()
    assert (settings.ts_token_auth, settings.private_host) == (True, "127.0.0.1")
    assert "disable_token_authorization=false" in render(settings).splitlines()


def test_token_auth_off_only_in_production() -> None:
    with pytest.raises(ValidationError, match="ts_token_auth may be false only with TS_PROFILE=production"):
        ModelServerSettings(ts_token_auth=False)


def test_token_auth_off_keeps_management_on_loopback() -> None:
    with pytest.raises(ValidationError, match="management API must stay on loopback; set TS_MANAGEMENT_BIND_HOST"):
        ModelServerSettings.model_validate({**CONTAINER, "ts_management_bind_host": None})


def test_management_beyond_loopback_needs_production() -> None:
    with pytest.raises(ValidationError, match="ts_management_bind_host '0.0.0.0' is not a loopback address"):
        ModelServerSettings(ts_management_bind_host="0.0.0.0")


def test_keys_without_tokens_send_no_header(tmp_path: Path) -> None:
    settings = ModelServerSettings.model_validate({**CONTAINER, "ts_home": tmp_path})
    assert server_keys(settings) is NO_KEYS
    assert NO_KEYS.inference_headers() == {} == NO_KEYS.management_headers()
    assert TokenKeys("a", "b").inference_headers() == {"Authorization": "Bearer a"}


def test_gateway_torchserve_url_must_be_http() -> None:
    assert GatewaySettings(gateway_torchserve_url="http://model-server:8080").gateway_torchserve_url
    for bad in ("model-server:8080", "ftp://model-server", "http://"):
        with pytest.raises(ValidationError, match="GATEWAY_TORCHSERVE_URL must be an http"):
            GatewaySettings(gateway_torchserve_url=bad)
