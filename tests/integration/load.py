"""Load for the fault and lifecycle tests: each request's timing and outcome, steady load from threads, bursts
sent at once, the TorchServe workers the tests kill, and what the gateway's metrics counted."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx

from serving.modelserver import ModelServerSettings
from serving.modelserver.workers import worker_pids


@dataclass(frozen=True)
class Call:
    """One request of a load run: when it was sent and answered (monotonic seconds), its status, Retry-After,
    the version that answered (X-Model-Version) and error message."""

    sent: float
    answered: float
    status: int
    retry_after: str | None
    version: str | None
    error: str | None


def _call(sent: float, answer: httpx.Response) -> Call:
    error = answer.json()["error"] if answer.status_code != 200 else None
    return Call(sent, time.monotonic(), answer.status_code, answer.headers.get("retry-after"),
                answer.headers.get("x-model-version"), error)


def steady_load(url: str, body: dict[str, object], clients: int, stop: threading.Event) -> list[Call]:
    """`clients` threads posting `body` back to back until `stop` is set. A request that raises (a hang cut by the
    client timeout, a dropped connection) fails the run: the gateway must answer every request."""
    def client() -> list[Call]:
        calls = []
        with httpx.Client(timeout=40) as http:
            while not stop.is_set():
                sent = time.monotonic()
                calls.append(_call(sent, http.post(url, json=body)))
        return calls

    with ThreadPoolExecutor(clients) as pool:
        runs = [pool.submit(client) for _ in range(clients)]
        return [call for run in runs for call in run.result()]


async def burst(url: str, body: dict[str, object], count: int) -> list[Call]:
    """`count` requests sent at once, each on its own connection."""
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=40, limits=limits) as http:
        async def one() -> Call:
            sent = time.monotonic()
            return _call(sent, await http.post(url, json=body))

        return list(await asyncio.gather(*(one() for _ in range(count))))


def worker_pid(server: ModelServerSettings, model: str) -> int:
    """The pid of the model's one TorchServe worker."""
    pids = worker_pids(server, model)
    assert len(pids) == 1, pids
    return pids[0]


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample of a Prometheus text exposition (0 when absent)."""
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    prefix = f"{name}{{{wanted}}} " if labels else f"{name} "
    return sum(float(line.removeprefix(prefix)) for line in text.splitlines() if line.startswith(prefix))
