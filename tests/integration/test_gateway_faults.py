"""The gateway when TorchServe is slow, down or overloaded: fast, clear answers and recovery by itself."""

from __future__ import annotations

import json
import shutil
import signal
import time
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from serving.modelserver import ModelServerSettings, start, stop
from tests.servers import gateway_process, settings_for

SLOW = {"features": [0.0] * 10}
SLEEPY_HANDLER = '''"""A regression handler that takes two seconds: the slow model of the fault tests."""

import time
import zipfile

from handlers.regression import RegressionHandler


class Handler(RegressionHandler):
    """Sleeps, then answers."""

    def predict(self, items):
        time.sleep(2)
        return super().predict(items)
'''


def sleepy_archive(source: Path, target: Path) -> None:
    """linear_regression's archive renamed `sleepy`, with a handler that sleeps past the gateway's timeout."""
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w") as copy:
        for item in original.infolist():
            data = original.read(item)
            if item.filename in ("MAR-INF/MANIFEST.json", "signature.json"):
                document = json.loads(data)
                if "model" in document:
                    document["model"]["modelName"] = "sleepy"
                else:
                    document["name"] = "sleepy"
                data = json.dumps(document).encode()
            elif item.filename == "handler.py":
                data = SLEEPY_HANDLER.encode()
            copy.writestr(item, data)


@pytest.fixture(scope="module")
def small_store(model_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    store = tmp_path_factory.mktemp("small-store")
    shutil.copy(model_store / "linear_regression.mar", store)
    sleepy_archive(model_store / "linear_regression.mar", store / "sleepy.mar")
    return store


@pytest.fixture(scope="module")
def own_server(small_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelServerSettings]:
    settings = settings_for(small_store, tmp_path_factory.mktemp("ts-faults") / "home")
    start(settings)
    try:
        yield settings
    finally:
        stop(settings)


def test_torchserve_down_gives_fast_503_then_recovers_without_a_gateway_restart(
    small_store: Path, own_server: ModelServerSettings, tmp_path: Path,
) -> None:
    with gateway_process(small_store, own_server, tmp_path / "gw.log") as (url, process):
        predict = f"{url}/v1/models/linear_regression/predict"
        body = {"features": [0.0] * 10}
        assert httpx.post(predict, json=body).status_code == 200
        stop(own_server)
        assert httpx.get(f"{url}/livez").status_code == 200
        assert httpx.get(f"{url}/readyz").status_code == 503
        started = time.perf_counter()
        answer = httpx.post(predict, json=body)
        elapsed = time.perf_counter() - started
        assert answer.status_code == 503
        assert answer.headers["retry-after"] == "1"
        assert "unavailable" in answer.json()["error"]
        assert elapsed < 0.1, f"503 took {elapsed * 1000:.0f} ms"
        start(own_server)  # new TorchServe, new keys: the gateway must pick them up by itself
        assert httpx.post(predict, json=body).status_code == 200
        assert httpx.get(f"{url}/readyz").status_code == 200
        assert process.poll() is None


def test_upstream_timeout_is_504_and_other_models_keep_answering(
    small_store: Path, own_server: ModelServerSettings, tmp_path: Path,
) -> None:
    with gateway_process(small_store, own_server, tmp_path / "gw.log", GATEWAY_UPSTREAM_TIMEOUT_S="0.5") as (url, _):
        with ThreadPoolExecutor(2) as pool:
            slow = pool.submit(httpx.post, f"{url}/v1/models/sleepy/predict", json=SLOW, timeout=10)
            time.sleep(0.1)
            started = time.perf_counter()
            fast = httpx.post(f"{url}/v1/models/linear_regression/predict", json={"features": [0.0] * 10})
            fast_seconds = time.perf_counter() - started
            answer = slow.result()
        assert answer.status_code == 504
        assert "did not answer in time" in answer.json()["error"]
        assert fast.status_code == 200
        assert fast_seconds < 0.3, "the other model waited behind the slow one"


def test_beyond_the_concurrency_bound_requests_get_429_with_retry_after(
    small_store: Path, own_server: ModelServerSettings, tmp_path: Path,
) -> None:
    with gateway_process(small_store, own_server, tmp_path / "gw.log", GATEWAY_MAX_CONCURRENCY="1") as (url, _):
        def call(_: int) -> httpx.Response:
            return httpx.post(f"{url}/v1/models/sleepy/predict", json=SLOW, timeout=30)

        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(call, range(4)))
        statuses = sorted(a.status_code for a in answers)
        assert 200 in statuses
        assert 429 in statuses
        assert set(statuses) <= {200, 429}
        refused = next(a for a in answers if a.status_code == 429)
        assert refused.headers["retry-after"] == "1"
        # once the burst is over, the gateway serves normally
        after = httpx.post(f"{url}/v1/models/linear_regression/predict", json={"features": [0.0] * 10})
        assert after.status_code == 200


def test_sigterm_finishes_requests_in_flight_then_exits(
    small_store: Path, own_server: ModelServerSettings, tmp_path: Path,
) -> None:
    with gateway_process(small_store, own_server, tmp_path / "gw.log") as (url, process), \
            ThreadPoolExecutor(1) as pool:
        in_flight = pool.submit(httpx.post, f"{url}/v1/models/sleepy/predict", json=SLOW, timeout=30)
        time.sleep(0.5)  # the request is now inside the two-second handler
        process.send_signal(signal.SIGTERM)  # what Kubernetes sends on a rollout
        time.sleep(0.3)
        with pytest.raises(httpx.TransportError):  # no new requests once shutdown has begun
            httpx.post(f"{url}/v1/models/linear_regression/predict", json={"features": [0.0] * 10}, timeout=5)
        answer = in_flight.result()
        assert answer.status_code == 200
        assert "prediction" in answer.json()
        # uvicorn drains, then re-raises the signal it caught, so the exit status is "terminated by SIGTERM"
        assert process.wait(timeout=30) in (0, -signal.SIGTERM)
