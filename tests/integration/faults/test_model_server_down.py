"""TorchServe down behind the gateway: a fast 503 with Retry-After, and recovery without a gateway restart."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from serving.modelserver import ModelServerSettings, start, stop
from tests.integration.slow_models import REQUEST
from tests.servers import gateway_process


def test_torchserve_down_gives_fast_503_then_recovers_without_a_gateway_restart(
    small_store: Path, own_server: ModelServerSettings, tmp_path: Path,
) -> None:
    with gateway_process(small_store, own_server, tmp_path / "gw.log") as (url, process):
        predict = f"{url}/v1/models/linear_regression/predict"
        assert httpx.post(predict, json=REQUEST).status_code == 200
        stop(own_server)
        assert httpx.get(f"{url}/livez").status_code == 200
        assert httpx.get(f"{url}/readyz").status_code == 503
        started = time.perf_counter()
        answer = httpx.post(predict, json=REQUEST)
        elapsed = time.perf_counter() - started
        assert answer.status_code == 503
        assert answer.headers["retry-after"] == "1"
        assert "unavailable" in answer.json()["error"]
        assert elapsed < 0.1, f"503 took {elapsed * 1000:.0f} ms"
        start(own_server)  # new TorchServe, new keys: the gateway must pick them up by itself
        assert httpx.post(predict, json=REQUEST).status_code == 200
        assert httpx.get(f"{url}/readyz").status_code == 200
        assert process.poll() is None
