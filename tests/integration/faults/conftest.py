"""The fault tests' own TorchServe, shared by the whole package (the tests stop and restart it, so it is not the
session's): linear_regression and two slow copies of it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from serving.modelserver import ModelServerSettings
from tests.integration.slow_models import brief_archive, sleepy_archive
from tests.servers import running_torchserve, settings_for


@pytest.fixture(scope="package")
def small_store(model_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """linear_regression, `sleepy` (two seconds a batch) and `brief` (busy under steady load)."""
    store = tmp_path_factory.mktemp("small-store")
    shutil.copy(model_store / "linear_regression.mar", store)
    sleepy_archive(model_store / "linear_regression.mar", store / "sleepy.mar")
    brief_archive(model_store / "linear_regression.mar", store)
    return store


@pytest.fixture(scope="package")
def own_server(small_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelServerSettings]:
    """A TorchServe serving the small store; a test that stops it starts it again."""
    settings = settings_for(small_store, tmp_path_factory.mktemp("ts-faults") / "home")
    with running_torchserve(settings):
        yield settings
