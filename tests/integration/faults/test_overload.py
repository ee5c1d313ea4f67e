"""Overload far beyond the gateway's admission bound: the excess refused at once with 429, in bounded memory."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import psutil
import pytest

from serving.modelserver import ModelServerSettings
from tests.integration.load import burst, metric
from tests.integration.slow_models import REQUEST
from tests.servers import gateway_process


@pytest.mark.timeout(120)
def test_overload_far_beyond_the_bound_is_refused_at_once_in_bounded_memory(
    small_store: Path, own_server: ModelServerSettings, tmp_path: Path,
) -> None:
    """Bursts of 200 requests at a gateway that admits 4, on the two-second model: the excess is refused with 429
    while the admitted requests are still running (refused, not queued), and the gateway's memory stays flat."""
    with gateway_process(small_store, own_server, tmp_path / "gw.log", GATEWAY_MAX_CONCURRENCY="4") as (url, process):
        gateway = psutil.Process(process.pid)
        predict = f"{url}/v1/models/sleepy/predict"
        warm_up = asyncio.run(burst(predict, REQUEST, 200))  # connection handling, error paths, metrics series
        before = gateway.memory_info().rss
        runs = [asyncio.run(burst(predict, REQUEST, 200)) for _ in range(3)]
        grown = gateway.memory_info().rss - before
        after = httpx.post(f"{url}/v1/models/linear_regression/predict", json=REQUEST)
        metrics = httpx.get(f"{url}/metrics").text

    for calls in [warm_up, *runs]:
        admitted = [call for call in calls if call.status == 200]
        refused = [call for call in calls if call.status != 200]
        assert 1 <= len(admitted) <= 12  # rounds of at most four, each at least two seconds long
        assert {(call.status, call.retry_after) for call in refused} == {(429, "1")}
        assert {call.error for call in refused} == {
            "the gateway is at its limit of 4 requests in flight; retry shortly"}
        # refused, not queued: the slowest refusal came back sooner than the quickest admitted request
        assert max(c.answered - c.sent for c in refused) < min(c.answered - c.sent for c in admitted)
    assert grown < 20 * 2**20, f"the gateway's resident memory grew {grown / 2**20:.1f} MiB over 600 requests"
    assert after.status_code == 200
    refused_total = sum(call.status == 429 for calls in [warm_up, *runs] for call in calls)
    assert metric(metrics, "gateway_requests_total", method="POST", model="sleepy", route="/v1/models/{name}/predict",
                  status="429") == refused_total
