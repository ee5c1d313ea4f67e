"""The model lifecycle on a real TorchServe and gateway: a version replaced under sustained load without one
failed request, and outages (one worker, then every worker killed) bounded by the outage budget, answered with
503 and Retry-After, confined to the models concerned, and recovered from without anyone's help."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from serving.archive.builder import build
from serving.gateway.core.catalog import read_archive
from serving.modelserver import ModelServerSettings, read_keys
from serving.modelserver.workers import worker_pids
from tests.conftest import ARTIFACTS
from tests.error_bodies import error_of
from tests.integration.load import Call, metric, steady_load
from tests.integration.slow_models import REQUEST, brief_archive
from tests.servers import gateway_process, running_torchserve, settings_for

ADMIN_KEY = "lifecycle-admin-key-0123456789"
LOADED = "linear_regression.mar,brief.mar,mlp_classifier.mar"
BUDGET_S = 2.0
# What a loaded two-core CI machine adds to the budget: the probe interval, a retry's round trip, scheduling.
MARGIN_S = 1.5
OUTAGE_ERROR = "model '{}' has no live worker (it did not come back within the outage budget of 2 s); retry shortly"
FULL_ERROR = "model '{}' has no live worker (64 requests already wait for it); retry shortly"


@pytest.fixture(scope="module")
def lifecycle_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """linear_regression, the brief model of the fault tests, mlp_classifier 1.0 and, not loaded at start,
    mlp_classifier 1.1 (the same weights archived as the next version). Only these two models' artifacts are
    needed, so the module does not wait for the whole curriculum's (the `artifacts_dir` fixture)."""
    artifacts_dir = ARTIFACTS
    for name in ("linear_regression", "mlp_classifier"):
        assert (artifacts_dir / name / "model.pt").is_file(), f"train {name} first: python -m training train {name}"
    store = tmp_path_factory.mktemp("lifecycle-store")
    build(artifacts_dir / "linear_regression", store, "cpu")
    build(artifacts_dir / "mlp_classifier", store, "cpu")
    build(artifacts_dir / "mlp_classifier", store, "cpu", version="1.1")
    brief_archive(store / "linear_regression.mar", store)
    return store


@pytest.fixture(scope="module")
def lifecycle_server(lifecycle_store: Path, tmp_path_factory: pytest.TempPathFactory
                     ) -> Iterator[ModelServerSettings]:
    settings = settings_for(lifecycle_store, tmp_path_factory.mktemp("ts-lifecycle") / "home", ts_model_api=True,
                            ts_models=LOADED)
    with running_torchserve(settings):
        yield settings


@pytest.fixture(scope="module")
def gateway(lifecycle_store: Path, lifecycle_server: ModelServerSettings,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("gw-lifecycle") / "gateway.log"
    with gateway_process(lifecycle_store, lifecycle_server, log, TS_MODELS=LOADED, TS_MODEL_API="true",
                         GATEWAY_ADMIN_KEYS=ADMIN_KEY) as (url, _):
        yield url


def admin(url: str, *argv: str) -> str:
    """`python -m serving.admin ARGV` against the gateway, as an operator runs it; its output."""
    env = {**os.environ, "GATEWAY_URL": url, "GATEWAY_ADMIN_KEY": ADMIN_KEY}
    done = subprocess.run([sys.executable, "-m", "serving.admin", *argv], env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, f"{argv}: {done.stderr}"
    return done.stdout


@pytest.mark.timeout(400)
def test_replacing_mlp_classifier_1_0_with_1_1_under_load_fails_no_request(
        gateway: str, lifecycle_store: Path, lifecycle_server: ModelServerSettings) -> None:
    body = read_archive(lifecycle_store / "mlp_classifier.mar").example()
    stop_ = threading.Event()
    with ThreadPoolExecutor(1) as pool:
        load = pool.submit(steady_load, f"{gateway}/v1/models/mlp_classifier/predict", body, 4, stop_)
        time.sleep(1)
        admin(gateway, "register", "mlp_classifier-1.1.mar", "--workers", "1")
        time.sleep(0.5)
        admin(gateway, "policy", "mlp_classifier", "--default", "1.0", "--canary", "1.1:50")
        check_version_routing(gateway, lifecycle_store)
        admin(gateway, "promote", "mlp_classifier")
        admin(gateway, "unregister", "mlp_classifier", "1.0")
        replaced = time.monotonic()
        time.sleep(1)
        stop_.set()
        calls = load.result(timeout=60)
    failed = [c for c in calls if c.status != 200]
    assert failed == [], failed[:5]
    assert {c.version for c in calls} == {"1.0", "1.1"}
    assert {c.version for c in calls if c.sent > replaced} == {"1.1"}
    headers = read_keys(lifecycle_server.ts_home).management_headers()
    served = httpx.get(f"{lifecycle_server.management_url}/models/mlp_classifier/all", headers=headers).json()
    assert [m["modelVersion"] for m in served] == ["1.1"]
    metadata = httpx.get(f"{gateway}/v2/models/mlp_classifier").json()
    assert metadata["versions"] == ["1.1"]
    assert error_of(httpx.post(f"{gateway}/v1/models/mlp_classifier/predict", json=body,
                               params={"version": "1.0"})) == (404, "model 'mlp_classifier' has no version '1.0' "
                                                                    "(served: 1.1)")


def check_version_routing(gateway: str, store: Path) -> None:
    """With 1.0 and 1.1 served and a 50 % canary: a version asked for on v1 (query or header) or v2 (path) answers,
    and a traffic key always lands on the same version."""
    entry = read_archive(store / "mlp_classifier.mar")
    predict = f"{gateway}/v1/models/mlp_classifier/predict"
    for version in ("1.0", "1.1"):
        by_query = httpx.post(predict, json=entry.example(), params={"version": version})
        by_header = httpx.post(predict, json=entry.example(), headers={"X-Model-Version": version})
        assert by_query.headers["x-model-version"] == by_header.headers["x-model-version"] == version
        v2 = httpx.post(f"{gateway}/v2/models/mlp_classifier/versions/{version}/infer",
                        json=entry.model_kind.example_infer(entry.signature))
        assert (v2.status_code, v2.json()["model_version"]) == (200, version)
    for user in ("alice", "bob", "carol"):
        seen = {httpx.post(predict, json=entry.example(), headers={"X-Traffic-Key": user}).headers["x-model-version"]
                for _ in range(8)}
        assert len(seen) == 1, f"{user} saw {seen}"
    metadata = httpx.get(f"{gateway}/v1/models/mlp_classifier").json()
    assert (metadata["version"], metadata["versions"]) == ("1.0", ["1.0", "1.1"])


def check_outage(calls: list[Call], killed: float, model: str) -> None:
    """Every call answered 200 or 503 with Retry-After and the outage's message, none waiting past the budget."""
    outcomes = {(c.status, c.retry_after, c.error) for c in calls if c.status != 200}
    allowed = {(503, "1", OUTAGE_ERROR.format(model)), (503, "1", FULL_ERROR.format(model))}
    assert outcomes <= allowed, outcomes
    waits = [c.answered - max(c.sent, killed) for c in calls if c.answered > killed]
    assert max(waits) <= BUDGET_S + MARGIN_S, f"{model}: a request waited {max(waits):.2f} s after the kill"


def wait_until_answering(url: str, body: dict[str, object], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while httpx.post(url, json=body, timeout=35).status_code != 200:
        assert time.monotonic() < deadline, f"{url} did not answer again within {timeout_s:.0f} s"
        time.sleep(0.2)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("victims", [["brief"], ["brief", "linear_regression"]], ids=["one-worker", "every-worker"])
def test_killed_workers_give_bounded_503s_other_models_answer_and_recovery_is_automatic(
        gateway: str, lifecycle_server: ModelServerSettings, victims: list[str]) -> None:
    models = ["brief", "linear_regression"]

    def victims_workers() -> list[int]:
        return [pid for model in victims for pid in worker_pids(lifecycle_server, model, all_versions=True)]

    stop_ = threading.Event()
    with ThreadPoolExecutor(2) as pool:
        loads = {m: pool.submit(steady_load, f"{gateway}/v1/models/{m}/predict", REQUEST, 4, stop_) for m in models}
        time.sleep(2)
        pids = victims_workers()
        killed = time.monotonic()
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        for model in victims:
            wait_until_answering(f"{gateway}/v1/models/{model}/predict", REQUEST)
        time.sleep(1)
        stop_.set()
        calls = {m: load.result(timeout=60) for m, load in loads.items()}
    for model in models:
        check_outage(calls[model], killed, model)
        if model not in victims:
            assert {c.status for c in calls[model]} == {200}, "another model's requests failed"
    assert not set(victims_workers()) & set(pids)
    ready = httpx.get(f"{gateway}/readyz")
    assert (ready.status_code, ready.json()["status"]) == (200, "ready")
    metrics = httpx.get(f"{gateway}/metrics").text
    assert all(metric(metrics, "gateway_model_outage", model=m) == 0 for m in victims)
