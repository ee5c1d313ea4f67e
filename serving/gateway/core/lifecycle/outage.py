"""Bounded outages: while a model has no live worker, its requests wait at most a budget, then get 503.

TorchServe holds a dead worker's queued requests until it has restarted the worker (seconds, or much longer when
every worker died at once). A client behind a load balancer would rather be told at once and retry another
replica. So the gate, per model (each model's outage is its own; the others are never held):
- learns of an outage from TorchServe's 507 "Worker died" (or a failed readiness probe),
- holds that model's requests, at most `max_held` of them (beyond it: 503 at once), each for the rest of its
  budget and never past the client's own deadline, then answers 503 with Retry-After,
- probes the model until a worker is back, then lets the held requests go (recovery needs nobody).
A request already sent when the worker died is bounded the same way: its wait ends at the budget."""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from serving.gateway.core.errors import ModelNotReady, UpstreamTimeout, WorkerDied

log = logging.getLogger("serving.gateway.core.lifecycle")
T = TypeVar("T")
Probe = Callable[[str], Awaitable[bool]]


class ModelOutage(ModelNotReady):
    """The model has had no live worker for longer than the request could wait."""


class ModelDeadline(UpstreamTimeout):
    """The client's own deadline (its request-timeout header) passed before the model answered."""


@dataclass
class _Model:
    recovered: asyncio.Event = field(default_factory=asyncio.Event)
    down_since: float | None = None
    held: int = 0
    probe: "asyncio.Task[None] | None" = None
    # The timeouts of the calls out to this model now: an outage brings each one forward to the budget.
    calls: set[asyncio.Timeout] = field(default_factory=set)


class OutageGate:
    """Per-model outage state, and the wait-at-most-the-budget rule around every call to a model.

    Times are the event loop's clock (`loop.time()`, monotonic)."""

    def __init__(self, probe: Probe, budget_s: float = 2.0, max_held: int = 64, probe_interval_s: float = 0.2,
                 retry_after_s: int = 1, on_change: Callable[[str, bool], None] | None = None) -> None:
        self._probe = probe
        self.budget_s, self.max_held, self.probe_interval_s = budget_s, max_held, probe_interval_s
        self._retry_after = str(retry_after_s)
        self._on_change = on_change or (lambda model, down: None)
        self._models: dict[str, _Model] = {}

    def is_down(self, model: str) -> bool:
        """Whether the model is in an outage now (per-model readiness reads this)."""
        state = self._models.get(model)
        return state is not None and state.down_since is not None

    def held(self, model: str) -> int:
        """Requests for the model waiting for its recovery now."""
        state = self._models.get(model)
        return state.held if state else 0

    def mark_down(self, model: str) -> None:
        """Start an outage (idempotent) and the probe that ends it."""
        state = self._models.setdefault(model, _Model())
        if state.down_since is not None:
            return
        now = asyncio.get_running_loop().time()
        state.down_since = now
        state.recovered = asyncio.Event()
        state.probe = asyncio.create_task(self._recover(model, state))
        for call in state.calls:  # requests already queued in TorchServe behind the dead worker
            when = call.when()
            if when is None or when > now + self.budget_s:
                call.reschedule(now + self.budget_s)
        log.warning("model %s has no live worker: its requests wait at most %.1f s, then get 503", model,
                    self.budget_s)
        self._on_change(model, True)

    async def call(self, model: str, send: Callable[[], Awaitable[T]], deadline: float | None = None) -> T:
        """`send()` under the outage rule; `deadline`: the client's, on the loop's clock (None: none given)."""
        state = self._models.setdefault(model, _Model())
        limit = asyncio.get_running_loop().time() + self.budget_s
        limit = limit if deadline is None else min(deadline, limit)
        for _ in range(2):  # the request that meets a dying worker waits for the recovery and is sent once more
            if state.down_since is not None:
                await self._wait_for_recovery(model, state, limit)
            try:
                return await self._bounded(model, state, send, deadline)
            except WorkerDied:
                self.mark_down(model)
        raise self._unavailable(model)

    async def _bounded(self, model: str, state: _Model, send: Callable[[], Awaitable[T]],
                       deadline: float | None) -> T:
        """The call, cut short at the client's deadline, or a budget after the model goes down."""
        try:
            async with asyncio.timeout_at(deadline) as timeout:
                state.calls.add(timeout)
                try:
                    return await send()
                finally:
                    state.calls.discard(timeout)
        except TimeoutError:
            if state.down_since is not None:
                raise self._unavailable(model) from None
            raise ModelDeadline(f"model {model!r} did not answer within the request's deadline") from None

    async def _wait_for_recovery(self, model: str, state: _Model, limit: float) -> None:
        if state.held >= self.max_held:
            raise self._unavailable(model, full=True)
        state.held += 1
        try:
            async with asyncio.timeout_at(limit):
                await state.recovered.wait()
        except TimeoutError:
            raise self._unavailable(model) from None
        finally:
            state.held -= 1

    async def _recover(self, model: str, state: _Model) -> None:
        while True:
            await asyncio.sleep(self.probe_interval_s)
            try:
                if await self._probe(model):
                    break
            except Exception:  # a probe that fails is one more "not yet"
                log.debug("probe of %s failed", model, exc_info=True)
        seconds = asyncio.get_running_loop().time() - (state.down_since or 0.0)
        state.down_since, state.probe = None, None
        state.recovered.set()
        log.warning("model %s has a live worker again after %.1f s", model, seconds)
        self._on_change(model, False)

    def _unavailable(self, model: str, full: bool = False) -> "ModelOutage":
        reason = (f"{self.max_held} requests already wait for it" if full
                  else f"it did not come back within the outage budget of {self.budget_s:g} s")
        error = ModelOutage(f"model {model!r} has no live worker ({reason}); retry shortly")
        error.headers["Retry-After"] = self._retry_after
        return error

    async def aclose(self) -> None:
        """Stop the probes."""
        for state in self._models.values():
            if state.probe is not None:
                state.probe.cancel()
