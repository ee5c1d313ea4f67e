"""Gateway settings refuse unsafe values; API keys, admission and body limits behave exactly."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydantic import ValidationError

from serving.gateway.core.admission import Admission, ApiKeys
from serving.gateway.core.errors import Overloaded, Unauthorized
from serving.gateway.settings import GatewaySettings

GOOD_KEY = "k" * 20


def test_local_profile_runs_without_keys_on_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GATEWAY_API_KEYS", raising=False)
    settings = GatewaySettings(_env_file=None)
    assert (settings.gateway_profile, settings.gateway_host, settings.gateway_port) == ("local", "127.0.0.1", 8000)
    assert settings.api_keys() == ()


def test_local_profile_refuses_a_public_address() -> None:
    with pytest.raises(ValidationError, match="binds to loopback only"):
        GatewaySettings(_env_file=None, gateway_host="0.0.0.0")


def test_production_needs_keys_and_long_ones() -> None:
    with pytest.raises(ValidationError, match="needs API keys"):
        GatewaySettings(_env_file=None, gateway_profile="production", gateway_host="0.0.0.0")
    with pytest.raises(ValidationError, match="at least 16 characters"):
        GatewaySettings(_env_file=None, gateway_profile="production", gateway_api_keys="short")
    ok = GatewaySettings(_env_file=None, gateway_profile="production", gateway_host="0.0.0.0",
                         gateway_api_keys=f"{GOOD_KEY}, {'z' * 16}")
    assert ok.api_keys() == (GOOD_KEY, "z" * 16)


def test_the_grpc_port_is_tritons_by_default_can_be_off_and_never_the_rest_port(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GATEWAY_GRPC_PORT", raising=False)
    assert GatewaySettings(_env_file=None).gateway_grpc_port == 8001
    monkeypatch.setenv("GATEWAY_GRPC_PORT", "0")
    assert GatewaySettings(_env_file=None).gateway_grpc_port == 0
    with pytest.raises(ValidationError, match="GATEWAY_GRPC_PORT must differ from GATEWAY_PORT"):
        GatewaySettings(_env_file=None, gateway_port=9000, gateway_grpc_port=9000)
    with pytest.raises(ValidationError, match="less than or equal to 65535"):
        GatewaySettings(_env_file=None, gateway_grpc_port=70000)


def test_keys_come_from_env_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    keys = tmp_path / "keys"
    keys.write_text(f"\n{'a' * 16}\n  {'b' * 16}  \n")
    monkeypatch.setenv("GATEWAY_API_KEYS", GOOD_KEY)
    monkeypatch.setenv("GATEWAY_API_KEYS_FILE", str(keys))
    assert GatewaySettings(_env_file=None).api_keys() == (GOOD_KEY, "a" * 16, "b" * 16)


def test_missing_key_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="does not exist"):
        GatewaySettings(_env_file=None, gateway_api_keys_file=tmp_path / "nope")


@pytest.mark.parametrize("field", ["gateway_port", "gateway_max_body_bytes", "gateway_max_concurrency"])
def test_nonsense_numbers_are_refused(field: str) -> None:
    with pytest.raises(ValidationError):
        GatewaySettings(_env_file=None, **{field: 0})


def test_api_keys_check() -> None:
    keys = ApiKeys((GOOD_KEY, "second-key-0123456"))
    keys.check(f"Bearer {GOOD_KEY}")
    keys.check("bearer second-key-0123456")
    for header, message in [(None, "missing API key"), ("", "missing API key"), (GOOD_KEY, "missing API key"),
                            ("Basic abc", "missing API key"), ("Bearer nope", "invalid API key"),
                            (f"Bearer {GOOD_KEY}x", "invalid API key")]:
        with pytest.raises(Unauthorized, match=message):
            keys.check(header)
    ApiKeys(()).check(None)  # no keys configured: everyone is let in
    assert not ApiKeys(()).enabled


def test_admission_refuses_beyond_the_limit_and_frees_slots() -> None:
    admission = Admission(2)

    async def scenario() -> None:
        async with admission.slot(), admission.slot():
            assert admission.in_flight == 2
            with pytest.raises(Overloaded, match="limit of 2"):
                async with admission.slot():
                    pass
        assert admission.in_flight == 0
        with pytest.raises(RuntimeError):
            async with admission.slot():
                raise RuntimeError("a failing request still frees its slot")
        assert admission.in_flight == 0

    asyncio.run(scenario())
