"""`python -m serving.gateway`: the process tunes its garbage collector once the app is built, then serves."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest

import serving.gateway.__main__ as entry


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_start_up_objects_are_frozen_and_young_collections_are_rarer(restored_gc: None) -> None:
    entry.tune_gc()
    assert gc.get_freeze_count() > 1000  # this test process's modules, at least
    assert gc.get_threshold() == entry.GC_THRESHOLDS


def test_the_gc_is_tuned_after_the_app_is_built_and_before_serving(restored_gc: None,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    class Settings:
        gateway_log_level, gateway_host, gateway_port = "WARNING", "127.0.0.1", 8000

    monkeypatch.setattr(entry, "get_settings", lambda: Settings())
    monkeypatch.setattr(entry, "configure_logging", lambda level: None)
    monkeypatch.setattr(entry, "create_app",
                        lambda settings, serve_grpc: calls.append(f"app grpc={serve_grpc}") or "the app")
    monkeypatch.setattr(entry, "tune_gc", lambda: calls.append("gc"))

    def run(app: Any, **options: Any) -> None:
        calls.append(f"serve {app}")

    monkeypatch.setattr(entry.uvicorn, "run", run)
    assert entry.main() == 0
    assert calls == ["app grpc=True", "gc", "serve the app"]
