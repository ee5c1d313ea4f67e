"""Servers shared by the integration tests: one TorchServe with every curriculum archive, and one gateway
process in front of it (with API keys)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from serving.archive.builder import build
from serving.modelserver import ModelServerSettings, read_keys
from tests.servers import free_ports, gateway_process, running_torchserve, settings_for
from training import registry

KEY = "integration-key-0123456789"
OTHER_KEY = "second-key-abcdefghijklmnop"
AUTH = {"Authorization": f"Bearer {KEY}"}


def auth() -> dict[str, str]:
    """A fresh header dict per call: tritonclient adds Inference-Header-Content-Length to the dict it is given."""
    return dict(AUTH)


@pytest.fixture(scope="session")
def gateway_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the session's gateway writes its logs."""
    return tmp_path_factory.mktemp("gateway") / "gateway.log"


@pytest.fixture(scope="session")
def gateway_grpc_port() -> int:
    """The port of the session gateway's gRPC front-end."""
    return free_ports(1)[0]


@pytest.fixture(scope="session")
def gateway(model_store: Path, server: ModelServerSettings, gateway_log: Path, gateway_grpc_port: int) -> Iterator[str]:
    """`python -m serving.gateway` in front of the session's TorchServe, with two API keys and gRPC on
    `gateway_grpc_port`; yields its URL."""
    log = gateway_log
    with gateway_process(model_store, server, log, GATEWAY_API_KEYS=f"{KEY},{OTHER_KEY}",
                         GATEWAY_GRPC_PORT=str(gateway_grpc_port)) as (url, _):
        yield url


@pytest.fixture(scope="session")
def grpc_target(gateway: str, gateway_grpc_port: int) -> str:
    """host:port of the session gateway's gRPC front-end (up once the gateway is)."""
    return f"127.0.0.1:{gateway_grpc_port}"


@pytest.fixture(scope="session")
def api(gateway: str) -> Iterator[httpx.Client]:
    """An HTTP client for the gateway, with a key."""
    with httpx.Client(base_url=gateway, headers=AUTH, timeout=60) as http:
        yield http


@pytest.fixture(scope="session")
def model_store(artifacts_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every curriculum model archived as `make archive` does."""
    store = tmp_path_factory.mktemp("store")
    for name in registry.names():
        build(artifacts_dir / name, store, "cpu")
    return store


@pytest.fixture(scope="session")
def server(model_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelServerSettings]:
    """A real TorchServe serving the store, stopped at the end of the session."""
    # The access log on (off by default: the gateway's has every request): tests/integration/test_gateway_abuse.py
    # reads it for what the gateway let through to TorchServe.
    settings = settings_for(model_store, tmp_path_factory.mktemp("ts") / "home", startup_timeout_s=300,
                            ts_access_log=True)
    with running_torchserve(settings):
        yield settings


@pytest.fixture(scope="session")
def client(server: ModelServerSettings) -> Iterator[httpx.Client]:
    """An HTTP client for TorchServe's inference API, with its key."""
    headers = read_keys(server.ts_home).inference_headers()
    with httpx.Client(base_url=server.inference_url, headers=headers, timeout=60) as http:
        yield http
