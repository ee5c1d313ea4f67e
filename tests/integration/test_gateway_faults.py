"""The gateway when TorchServe is slow, down, overloaded or loses a worker: fast, clear answers and recovery by
itself."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import threading
import time
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
import psutil
import pytest
import yaml

from serving.modelserver import ModelServerSettings, read_keys, start, stop
from tests.servers import free_ports, gateway_process, settings_for

SLOW = {"features": [0.0] * 10}
BRIEF_S, BRIEF_BATCH = 0.2, 2
SLEEPY_HANDLER = '''"""A regression handler that takes {seconds} seconds: a slow model of the fault tests."""

import time

from handlers.regression import RegressionHandler


class Handler(RegressionHandler):
    """Sleeps, then answers."""

    def predict(self, items):
        time.sleep({seconds})
        return super().predict(items)
'''


def sleepy_archive(source: Path, target: Path, name: str = "sleepy", seconds: float = 2,
                   batch_size: int | None = None) -> None:
    """linear_regression's archive renamed `name`, with a handler that sleeps `seconds` per batch (by default
    past the gateway's timeout in the timeout test) and optionally another batch size."""
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w") as copy:
        for item in original.infolist():
            data = original.read(item)
            if item.filename in ("MAR-INF/MANIFEST.json", "signature.json"):
                document = json.loads(data)
                if "model" in document:
                    document["model"]["modelName"] = name
                else:
                    document["name"] = name
                data = json.dumps(document).encode()
            elif item.filename == "handler.py":
                data = SLEEPY_HANDLER.format(seconds=seconds).encode()
            elif item.filename == "model-config.yaml" and batch_size is not None:
                data = yaml.safe_dump({**yaml.safe_load(data), "batchSize": batch_size}).encode()
            copy.writestr(item, data)


@pytest.fixture(scope="module")
def small_store(model_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    store = tmp_path_factory.mktemp("small-store")
    shutil.copy(model_store / "linear_regression.mar", store)
    sleepy_archive(model_store / "linear_regression.mar", store / "sleepy.mar")
    # busy under steady load, with a batch small enough that some requests wait in TorchServe's queue
    sleepy_archive(model_store / "linear_regression.mar", store / "brief.mar", "brief", BRIEF_S, BRIEF_BATCH)
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


@dataclass(frozen=True)
class Call:
    """One request of a load run: when it was sent and answered (monotonic seconds), its status, Retry-After
    and error message."""

    sent: float
    answered: float
    status: int
    retry_after: str | None
    error: str | None


def steady_load(url: str, body: dict[str, object], clients: int, stop: threading.Event) -> list[Call]:
    """`clients` threads posting `body` back to back until `stop` is set. A request that raises (a hang cut by the
    client timeout, a dropped connection) fails the run: the gateway must answer every request."""
    def client() -> list[Call]:
        calls = []
        with httpx.Client(timeout=40) as http:
            while not stop.is_set():
                sent = time.monotonic()
                answer = http.post(url, json=body)
                error = answer.json()["error"] if answer.status_code != 200 else None
                calls.append(Call(sent, time.monotonic(), answer.status_code, answer.headers.get("retry-after"),
                                  error))
        return calls

    with ThreadPoolExecutor(clients) as pool:
        runs = [pool.submit(client) for _ in range(clients)]
        return [call for run in runs for call in run.result()]


def worker_pid(server: ModelServerSettings, model: str) -> int:
    """The pid of the model's one TorchServe worker, from the management API."""
    headers = read_keys(server.ts_home).management_headers()
    workers = httpx.get(f"{server.management_url}/models/{model}", headers=headers, timeout=10).json()[0]["workers"]
    assert len(workers) == 1, workers
    return int(workers[0]["pid"])


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample of a Prometheus text exposition (0 when absent)."""
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    prefix = f"{name}{{{wanted}}} " if labels else f"{name} "
    return sum(float(line.removeprefix(prefix)) for line in text.splitlines() if line.startswith(prefix))


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
            load = pool.submit(steady_load, f"{url}/v1/models/brief/predict", SLOW, CLIENTS, stop)
            time.sleep(2)  # a few batches: the worker is busy, the queue holds the other clients
            victim = worker_pid(own_server, "brief")
            killed = time.monotonic()
            os.kill(victim, signal.SIGKILL)
            deadline = killed + 30
            # the probe's own requests fail like the load's, and the metrics count them too
            probes_failed: list[tuple[int, str | None, str]] = []
            while time.monotonic() < deadline and not load.done():
                answer = httpx.post(f"{url}/v1/models/brief/predict", json=SLOW, timeout=35)
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


async def burst(url: str, body: dict[str, object], count: int) -> list[Call]:
    """`count` requests sent at once, each on its own connection."""
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=40, limits=limits) as http:
        async def one() -> Call:
            sent = time.monotonic()
            answer = await http.post(url, json=body)
            error = answer.json()["error"] if answer.status_code != 200 else None
            return Call(sent, time.monotonic(), answer.status_code, answer.headers.get("retry-after"), error)

        return list(await asyncio.gather(*(one() for _ in range(count))))


@pytest.mark.timeout(120)
def test_overload_far_beyond_the_bound_is_refused_at_once_in_bounded_memory(
    small_store: Path, own_server: ModelServerSettings, tmp_path: Path,
) -> None:
    """Bursts of 200 requests at a gateway that admits 4, on the two-second model: the excess is refused with 429
    while the admitted requests are still running (refused, not queued), and the gateway's memory stays flat."""
    with gateway_process(small_store, own_server, tmp_path / "gw.log", GATEWAY_MAX_CONCURRENCY="4") as (url, process):
        gateway = psutil.Process(process.pid)
        predict = f"{url}/v1/models/sleepy/predict"
        warm_up = asyncio.run(burst(predict, SLOW, 200))  # connection handling, error paths, metrics series
        before = gateway.memory_info().rss
        runs = [asyncio.run(burst(predict, SLOW, 200)) for _ in range(3)]
        grown = gateway.memory_info().rss - before
        after = httpx.post(f"{url}/v1/models/linear_regression/predict", json=SLOW)
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


# --- the same faults over gRPC ---------------------------------------------------------------------------

def _grpc_infer(target: str, model: str, timeout_s: float) -> grpc.RpcError | None:
    """One ModelInfer of ten zero features; the error, or None when it succeeded."""
    from serving.gateway.frontends.grpc_v2 import inference_pb2 as pb

    message = pb.ModelInferRequest(model_name=model, raw_input_contents=[bytes(40)])
    message.inputs.add(name="features", datatype="FP32", shape=[1, 10])
    with grpc.insecure_channel(target) as channel:
        call = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer",
                                   request_serializer=pb.ModelInferRequest.SerializeToString,
                                   response_deserializer=pb.ModelInferResponse.FromString)
        try:
            call(message, timeout=timeout_s)
        except grpc.RpcError as error:
            return error
    return None


def test_grpc_deadlines_upstream_timeouts_and_overload_get_their_codes(
    small_store: Path, own_server: ModelServerSettings, tmp_path: Path,
) -> None:
    port = free_ports(1)[0]
    target = f"127.0.0.1:{port}"
    with gateway_process(small_store, own_server, tmp_path / "gw.log", GATEWAY_GRPC_PORT=str(port),
                         GATEWAY_UPSTREAM_TIMEOUT_S="1", GATEWAY_MAX_CONCURRENCY="1") as (url, _):
        assert _grpc_infer(target, "linear_regression", 30) is None
        # the client's deadline: the call ends then, and so does its hold on the one admission slot, although
        # TorchServe is still inside the two-second handler
        error = _grpc_infer(target, "sleepy", 0.3)
        assert error is not None
        assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert _grpc_infer(target, "linear_regression", 30) is None
        # the gateway's own upstream timeout, well inside the client's deadline
        error = _grpc_infer(target, "sleepy", 30)
        assert error is not None
        assert (error.code(), error.details()) == (grpc.StatusCode.DEADLINE_EXCEEDED,
                                                   "model 'sleepy' did not answer in time")
        # the one slot taken: the next call is refused at once, with a hint for when to retry
        with ThreadPoolExecutor(1) as pool:
            busy = pool.submit(_grpc_infer, target, "sleepy", 30)
            time.sleep(0.3)
            refused = _grpc_infer(target, "linear_regression", 30)
            assert busy.result() is not None  # the sleepy call itself times out upstream
        assert refused is not None
        assert (refused.code(), refused.details()) == (
            grpc.StatusCode.RESOURCE_EXHAUSTED, "the gateway is at its limit of 1 requests in flight; retry shortly")
        assert ("retry-after", "1") in tuple(refused.trailing_metadata())  # type: ignore[attr-defined]
        text = httpx.get(f"{url}/metrics").text
        for status, count in (("200", 2), ("429", 1)):  # counted as REST counts: the same status for the answer
            assert ('gateway_requests_total{method="POST",model="linear_regression",'
                    f'route="/inference.GRPCInferenceService/ModelInfer",status="{status}"}} {count}.0') in text


def test_grpc_torchserve_down_is_unavailable_and_health_not_serving(
    small_store: Path, own_server: ModelServerSettings, tmp_path: Path,
) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    port = free_ports(1)[0]
    target = f"127.0.0.1:{port}"
    with gateway_process(small_store, own_server, tmp_path / "gw.log", GATEWAY_GRPC_PORT=str(port)):
        assert _grpc_infer(target, "linear_regression", 30) is None
        stop(own_server)
        try:
            error = _grpc_infer(target, "linear_regression", 30)
            assert error is not None
            assert (error.code(), error.details()) == (grpc.StatusCode.UNAVAILABLE,
                                                       "the model server is unavailable")
            with grpc.insecure_channel(target) as channel:
                answer = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
            assert answer.status == health_pb2.HealthCheckResponse.NOT_SERVING
        finally:
            start(own_server)
        assert _grpc_infer(target, "linear_regression", 30) is None
