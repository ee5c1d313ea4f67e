"""Servers shared by the integration tests: one TorchServe with every curriculum archive."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from serving.archive.builder import build
from serving.modelserver import ModelServerSettings, read_keys, start, stop
from tests.servers import settings_for
from training import registry


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
    settings = settings_for(model_store, tmp_path_factory.mktemp("ts") / "home", startup_timeout_s=300)
    start(settings)
    try:
        yield settings
    finally:
        stop(settings)


@pytest.fixture(scope="session")
def client(server: ModelServerSettings) -> Iterator[httpx.Client]:
    """An HTTP client for TorchServe's inference API, with its key."""
    headers = read_keys(server.ts_home).inference_headers()
    with httpx.Client(base_url=server.inference_url, headers=headers, timeout=60) as http:
        yield http
