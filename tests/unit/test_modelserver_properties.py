"""config.properties rendering: addresses, the locked-down security settings, Java-safe escaping."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from serving.modelserver.properties import allowed_url_pattern, escape_value, render
from serving.modelserver.settings import ModelServerSettings

STORE = Path("/nonexistent/model store")


@pytest.fixture(autouse=True)
def _no_ts_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.upper().startswith("TS_")]:
        monkeypatch.delenv(name)


def test_rendered_text() -> None:
    settings = ModelServerSettings(ts_model_store=STORE, ts_inference_port=18080, ts_management_port=18081,
                                   ts_metrics_port=18082, ts_grpc_inference_port=17070, ts_grpc_management_port=17071,
                                   ts_max_request_size=1000, ts_max_response_size=2000, ts_default_response_timeout=30)
    assert render(settings).splitlines() == [
        "# Rendered by serving.modelserver from ModelServerSettings; rewritten at every start.",
        "inference_address=http://127.0.0.1:18080",
        "management_address=http://127.0.0.1:18081",
        "metrics_address=http://127.0.0.1:18082",
        "grpc_inference_address=127.0.0.1",
        "grpc_inference_port=17070",
        "grpc_management_address=127.0.0.1",
        "grpc_management_port=17071",
        "metrics_mode=prometheus",
        "disable_token_authorization=false",
        "token_expiration_min=525600",
        "enable_model_api=false",
        r"allowed_urls=file:///nonexistent/model\\ store/[^/]+\\.mar",
        "model_store=/nonexistent/model store",
        "load_models=all",
        "max_request_size=1000",
        "max_response_size=2000",
        "default_response_timeout=30",
        "install_py_dep_per_model=false",
        "disable_system_metrics=false",
        "model_metrics_auto_detect=true",
        "enable_envvars_config=false",
        "number_of_netty_threads=4",
        "job_queue_size=100",
        "vmargs=-XX:+UseSerialGC -Xms32m -Xmx1g -Xss512k",
    ]


def test_jvm_options_become_vmargs_unless_emptied() -> None:
    assert render(ModelServerSettings()).splitlines()[-1] == "vmargs=-XX:+UseSerialGC -Xms32m -Xmx1g -Xss512k"
    assert not [line for line in render(ModelServerSettings(ts_jvm_options=" ")).splitlines()
                if line.startswith("vmargs")]
    rendered = render(ModelServerSettings(ts_jvm_options=" -Xmx256m\t-XX:+UseSerialGC "))
    assert rendered.splitlines()[-1] == "vmargs=-Xmx256m -XX:+UseSerialGC"


def test_relative_store_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert f"model_store={tmp_path.resolve() / 'store'}" in render(ModelServerSettings(ts_model_store=Path("store")))


def test_production_wildcard_and_ipv6_addresses() -> None:
    wildcard = render(ModelServerSettings(ts_bind_host="0.0.0.0", ts_profile="production")).splitlines()
    assert "inference_address=http://0.0.0.0:8080" in wildcard
    assert "grpc_inference_address=0.0.0.0" in wildcard
    assert "management_address=http://[::1]:8081" in render(ModelServerSettings(ts_bind_host="::1")).splitlines()


def _java_properties_value(rendered: str, key: str) -> str:
    """The value of `key` as java.util.Properties reads it (enough of its escapes for these tests)."""
    raw = next(line for line in rendered.splitlines() if line.startswith(f"{key}="))[len(key) + 1:]
    return re.sub(r"\\(u[0-9a-f]{4}|.)", lambda m: chr(int(m[1][1:], 16)) if len(m[1]) == 5 else
                  {"n": "\n", "t": "\t", "r": "\r"}.get(m[1], m[1]), raw)


@pytest.mark.parametrize(("url", "allowed"), [
    ("file:///srv/models,v1.2/echo.mar", True),
    ("FILE:///srv/models,v1.2/echo.mar", True),  # TorchServe compiles the patterns case-insensitively
    ("file:///srv/models,v1.2/echo.tar.gz", False),
    ("file:///srv/models,v1.2/sub/echo.mar", False),
    ("file:///srv/models,v1.2/../../etc/echo.mar", False),
    ("file:///srv/modelsXv1.2/echo.mar", False),
    ("file:///srv/models,v1x2/echo.mar", False),
    ("http://evil.example/echo.mar", False),
    ("https:///srv/models,v1.2/echo.mar", False),
])
def test_allowed_urls_admit_only_archives_in_the_store(url: str, allowed: bool) -> None:
    rendered = render(ModelServerSettings(ts_model_store=Path("/srv/models,v1.2")))
    value = _java_properties_value(rendered, "allowed_urls")
    assert "," not in value  # TorchServe splits allowed_urls on commas
    assert bool(re.fullmatch(value, url, re.IGNORECASE)) is allowed
    assert allowed_url_pattern(Path("/srv/models,v1.2")) == value


def test_escape_value() -> None:
    assert escape_value(r"C:\models") == r"C:\\models"
    assert escape_value("a\nb") == r"a\nb"
    assert escape_value("café/🙂") == r"caf\u00e9/\ud83d\ude42"
    assert escape_value("plain/path-1_2.mar") == "plain/path-1_2.mar"
