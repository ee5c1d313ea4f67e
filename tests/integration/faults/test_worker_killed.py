"""A TorchServe worker killed under load: a bounded outage answered with 503 and Retry-After, counted in the
gateway's metrics, and over once TorchServe has restarted the worker."""

from __future__ import annotations

import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from serving.modelserver import ModelServerSettings
from tests.integration.load import metric, steady_load, worker_pid
from tests.integration.slow_models import REQUEST
from tests.servers import gateway_process

CLIENTS = 6
OUTAGE_BUDGET_S, OUTAGE_MARGIN_S = 2.0, 1.5  # the gateway's default budget; a loaded CI machine's slack


@pytest.mark.timeout(120)
@pytest.mark.parametrize("coalescing", ["1", "32"], ids=["one-request-per-call", "coalesced"])
def test_worker_killed_under_load_fails_within_the_outage_budget_with_503_and_recovers(
    small_store: Path, own_server: ModelServerSettings, tmp_path: Path, coalescing: str,
) -> None:
    """SIGKILL the model's worker while six clients keep it busy.

    Seen with TorchServe 0.12.0: it answers the batch the dying worker held with 507 "Worker died." (not a 500),
    restarts the worker within a few seconds, and holds the requests in its queue until then. The gateway's outage
    gate (serving/gateway/core/lifecycle/outage.py) turns that into a bounded outage: no request waits more than the
    budget (2 s) after the kill, and those that cannot be answered by then get 503 with Retry-After. The lifecycle
    tests (tests/integration/test_lifecycle.py) kill every worker too."""
    with gateway_process(small_store, own_server, tmp_path / "gw.log", GATEWAY_BATCH_MAX_ITEMS=coalescing) as (url, _):
        stop = threading.Event()
        with ThreadPoolExecutor(1) as pool:
            load = pool.submit(steady_load, f"{url}/v1/models/brief/predict", REQUEST, CLIENTS, stop)
            time.sleep(2)  # a few batches: the worker is busy, the queue holds the other clients
            victim = worker_pid(own_server, "brief")
            killed = time.monotonic()
            os.kill(victim, signal.SIGKILL)
            deadline = killed + 30
            # the probe's own requests fail like the load's, and the metrics count them too
            probes_failed: list[tuple[int, str | None, str]] = []
            while time.monotonic() < deadline and not load.done():
                answer = httpx.post(f"{url}/v1/models/brief/predict", json=REQUEST, timeout=35)
                if answer.status_code == 200:
                    break
                probes_failed.append((answer.status_code, answer.headers.get("retry-after"), answer.json()["error"]))
                time.sleep(0.2)
            recovered = time.monotonic() - killed
            time.sleep(1)  # steady load on the new worker
            stop.set()
            calls = load.result(timeout=60)
        metrics = httpx.get(f"{url}/metrics").text

    assert recovered < 30, "the model was not served again within 30 s"
    assert worker_pid(own_server, "brief") != victim
    failed = [call for call in calls if call.status != 200]
    outcomes = {(call.status, call.retry_after, call.error) for call in failed} | set(probes_failed)
    assert outcomes <= {(503, "1", "model 'brief' has no live worker (it did not come back within the outage "
                                   "budget of 2 s); retry shortly")}, outcomes
    waits = [call.answered - max(call.sent, killed) for call in calls if call.answered > killed]
    assert max(waits) <= OUTAGE_BUDGET_S + OUTAGE_MARGIN_S, f"a request waited {max(waits):.2f} s after the kill"
    assert any(call.status == 200 and call.sent > killed for call in calls)
    # the gateway counts every failure, by model and reason
    upstream_failures = sum(metric(metrics, "gateway_upstream_errors_total", model="brief", reason=reason)
                            for reason in ("bad_status", "unavailable", "timeout"))
    assert upstream_failures == len(failed) + len(probes_failed)
    answered_5xx = sum(metric(metrics, "gateway_requests_total", method="POST", model="brief",
                              route="/v1/models/{name}/predict", status=str(status)) for status in (502, 503))
    assert answered_5xx == len(failed) + len(probes_failed)
