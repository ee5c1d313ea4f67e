"""A model slower than the gateway's patience: its requests end with 504 while other models keep answering, and a
request already inside it is finished when the gateway is told to stop."""

from __future__ import annotations

import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from serving.modelserver import ModelServerSettings
from tests.integration.slow_models import REQUEST
from tests.servers import gateway_process


def test_upstream_timeout_is_504_and_other_models_keep_answering(
    small_store: Path, own_server: ModelServerSettings, tmp_path: Path,
) -> None:
    with gateway_process(small_store, own_server, tmp_path / "gw.log", GATEWAY_UPSTREAM_TIMEOUT_S="0.5") as (url, _):
        with ThreadPoolExecutor(2) as pool:
            slow = pool.submit(httpx.post, f"{url}/v1/models/sleepy/predict", json=REQUEST, timeout=10)
            time.sleep(0.1)
            started = time.perf_counter()
            fast = httpx.post(f"{url}/v1/models/linear_regression/predict", json=REQUEST)
            fast_seconds = time.perf_counter() - started
            answer = slow.result()
        assert answer.status_code == 504
        assert "did not answer in time" in answer.json()["error"]
        assert fast.status_code == 200
        assert fast_seconds < 0.3, "the other model waited behind the slow one"


def test_sigterm_finishes_requests_in_flight_then_exits(
    small_store: Path, own_server: ModelServerSettings, tmp_path: Path,
) -> None:
    with gateway_process(small_store, own_server, tmp_path / "gw.log") as (url, process), \
            ThreadPoolExecutor(1) as pool:
        in_flight = pool.submit(httpx.post, f"{url}/v1/models/sleepy/predict", json=REQUEST, timeout=30)
        time.sleep(0.5)  # the request is now inside the two-second handler
        process.send_signal(signal.SIGTERM)  # what Kubernetes sends on a rollout
        time.sleep(0.3)
        with pytest.raises(httpx.TransportError):  # no new requests once shutdown has begun
            httpx.post(f"{url}/v1/models/linear_regression/predict", json=REQUEST, timeout=5)
        answer = in_flight.result()
        assert answer.status_code == 200
        assert "prediction" in answer.json()
        # uvicorn drains, then re-raises the signal it caught, so the exit status is "terminated by SIGTERM"
        assert process.wait(timeout=30) in (0, -signal.SIGTERM)
