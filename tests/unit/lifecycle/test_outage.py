"""The outage gate: a model with no live worker holds its requests for at most the budget (never past the
client's deadline), a bounded number of them, then 503 with Retry-After; other models never wait; recovery is
automatic. Budgets here are tenths of a second on the loop's clock; the tests assert outcomes, not timings."""

from __future__ import annotations

import asyncio

import pytest

from serving.gateway.core.errors import ModelNotReady, UpstreamError, WorkerDied
from serving.gateway.core.lifecycle.outage import ModelDeadline, ModelOutage, OutageGate
from serving.gateway.core.upstream import result_of

pytestmark = pytest.mark.anyio


class Workers:
    """A model server whose workers can die: `send` answers 'ok' while alive, 507 once when killed, and holds
    queued calls while dead (as TorchServe does); `probe` says whether a worker is alive."""

    def __init__(self) -> None:
        self.alive = True
        self.back = asyncio.Event()
        self.back.set()
        self.sent = 0

    def kill(self) -> None:
        self.alive = False
        self.back = asyncio.Event()

    def revive(self) -> None:
        self.alive = True
        self.back.set()

    async def send(self) -> str:
        self.sent += 1
        await self.back.wait()
        return "ok"

    async def dying(self) -> str:
        raise WorkerDied("model 'm' is out of resources: Worker died.")

    async def probe(self, model: str) -> bool:
        return self.alive


def gate(workers: Workers, budget_s: float = 0.3, max_held: int = 4, changes: list[tuple[str, bool]] | None = None
         ) -> OutageGate:
    return OutageGate(workers.probe, budget_s=budget_s, max_held=max_held, probe_interval_s=0.02,
                      retry_after_s=2, on_change=(lambda m, d: changes.append((m, d))) if changes is not None else None)


async def test_a_healthy_model_answers_through_the_gate() -> None:
    workers = Workers()
    assert await gate(workers).call("m", workers.send) == "ok"


async def test_a_dead_worker_marks_the_model_down_and_the_request_gets_503_with_retry_after() -> None:
    workers, changes = Workers(), []
    g = gate(workers, changes=changes)
    workers.kill()
    with pytest.raises(ModelOutage, match=r"model 'm' has no live worker \(it did not come back within the outage "
                                          r"budget of 0.3 s\); retry shortly") as caught:
        await g.call("m", workers.dying)
    assert caught.value.status == 503
    assert caught.value.headers == {"Retry-After": "2"}
    assert g.is_down("m")
    assert changes == [("m", True)]
    await g.aclose()


async def test_a_request_held_during_a_short_outage_is_answered_once_the_model_is_back() -> None:
    workers, changes = Workers(), []
    g = gate(workers, budget_s=5.0, changes=changes)
    workers.kill()
    g.mark_down("m")
    held = asyncio.create_task(g.call("m", workers.send))
    await asyncio.sleep(0.05)
    assert g.held("m") == 1
    assert workers.sent == 0, "no request goes to a model that is down"
    workers.revive()
    assert await held == "ok"
    assert not g.is_down("m")
    assert changes == [("m", True), ("m", False)]


async def test_the_request_that_meets_the_dying_worker_is_sent_again_after_the_recovery() -> None:
    workers = Workers()
    g = gate(workers, budget_s=5.0)
    calls = 0

    async def first_dies() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            workers.kill()
            asyncio.get_running_loop().call_later(0.1, workers.revive)
            raise WorkerDied("Worker died.")
        return "ok"

    assert await g.call("m", first_dies) == "ok"
    assert calls == 2


async def test_a_call_already_queued_when_the_model_goes_down_ends_at_the_budget() -> None:
    workers = Workers()
    g = gate(workers, budget_s=0.2)
    workers.kill()
    queued = asyncio.create_task(g.call("m", workers.send))  # held inside the "model server", not by the gate
    await asyncio.sleep(0.05)
    g.mark_down("m")
    with pytest.raises(ModelOutage, match="did not come back within the outage budget"):
        await queued
    await g.aclose()


async def test_held_requests_are_bounded_and_the_next_one_is_refused_at_once() -> None:
    workers = Workers()
    g = gate(workers, budget_s=5.0, max_held=3)
    workers.kill()
    g.mark_down("m")
    held = [asyncio.create_task(g.call("m", workers.send)) for _ in range(3)]
    await asyncio.sleep(0.05)
    with pytest.raises(ModelOutage, match=r"model 'm' has no live worker \(3 requests already wait for it\)"):
        await g.call("m", workers.send)
    workers.revive()
    assert await asyncio.gather(*held) == ["ok"] * 3


async def test_no_request_waits_past_the_clients_deadline() -> None:
    workers = Workers()
    g = gate(workers, budget_s=30.0)
    workers.kill()
    g.mark_down("m")
    deadline = asyncio.get_running_loop().time() + 0.1
    with pytest.raises(ModelOutage, match="has no live worker"):
        await g.call("m", workers.send, deadline)
    healthy = Workers()
    slow = gate(healthy)

    async def never() -> str:
        await asyncio.Event().wait()
        return "never"

    with pytest.raises(ModelDeadline, match="model 'm' did not answer within the request's deadline") as caught:
        await slow.call("m", never, asyncio.get_running_loop().time() + 0.05)
    assert caught.value.status == 504
    await g.aclose()


async def test_other_models_are_not_held_by_one_models_outage() -> None:
    workers = Workers()
    g = gate(workers, budget_s=5.0)
    g.mark_down("down")
    other = Workers()
    assert await g.call("up", other.send) == "ok"
    assert not g.is_down("up")
    assert g.is_down("down")
    await g.aclose()


async def test_other_503s_are_not_outages() -> None:
    workers = Workers()
    g = gate(workers)

    async def queue_full() -> str:
        raise ModelNotReady("model 'm' cannot take requests now: queue full")

    with pytest.raises(ModelNotReady, match="queue full"):
        await g.call("m", queue_full)
    assert not g.is_down("m")


@pytest.mark.parametrize(("status", "body"), [(507, b'{"message": "Worker died."}'),
                                              (500, b'{"message": "Worker died."}'), (507, b"out of memory")])
def test_torchserves_dead_worker_answers_are_worker_died(status: int, body: bytes) -> None:
    with pytest.raises(WorkerDied, match="model 'm' is out of resources"):
        result_of("m", status, body, "application/json", 0.1)


def test_other_500s_are_not_outages() -> None:
    with pytest.raises(UpstreamError, match="model 'm' failed: boom") as caught:
        result_of("m", 500, b'{"message": "boom"}', "application/json", 0.1)
    assert not isinstance(caught.value, WorkerDied)
