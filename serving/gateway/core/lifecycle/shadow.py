"""Shadow traffic: a copy of a request goes to a candidate version after the client's own call, its answer is
compared with the one the client got, and the verdict is counted; the client never waits for it.

The copy runs in a task of its own, started only once the client's answer is known, and at most `max_in_flight`
copies run at once (beyond it a copy is skipped and counted as such), so a slow or broken candidate can take no
more of the model server than that bound, and can never change what the client receives."""

import asyncio
import json
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Literal

log = logging.getLogger("serving.gateway.core.lifecycle")
Verdict = Literal["agree", "disagree", "error", "skipped"]
SendCopy = Callable[[], Awaitable[bytes]]
Record = Callable[[str, str, Verdict], None]
# Floats from two builds of the same model differ in the last bits; answers closer than this agree.
REL_TOLERANCE = 1e-4
ABS_TOLERANCE = 1e-6


def answers_agree(primary: bytes, candidate: bytes) -> bool:
    """Whether two answers say the same: equal JSON with numbers within a tolerance, or equal bytes."""
    if primary == candidate:
        return True
    try:
        return _same(json.loads(primary), json.loads(candidate))
    except ValueError:
        return False


def _same(a: object, b: object) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(a, b, rel_tol=REL_TOLERANCE, abs_tol=ABS_TOLERANCE)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


class ShadowMirror:
    """Runs shadow copies in the background, at most `max_in_flight` at once."""

    def __init__(self, record: Record, max_in_flight: int = 8) -> None:
        self._record = record
        self.max_in_flight = max_in_flight
        self._tasks: set[asyncio.Task[None]] = set()

    def mirror(self, model: str, version: str, primary: bytes, send_copy: SendCopy) -> None:
        """Start one copy (never awaited by the caller) and record how its answer compares with `primary`."""
        if len(self._tasks) >= self.max_in_flight:
            self._record(model, version, "skipped")
            return
        task = asyncio.create_task(self._compare(model, version, primary, send_copy))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _compare(self, model: str, version: str, primary: bytes, send_copy: SendCopy) -> None:
        try:
            candidate = await send_copy()
        except Exception as error:  # the candidate's failure is a verdict, never the client's problem
            log.info("shadow %s %s failed: %s", model, version, error)
            self._record(model, version, "error")
            return
        self._record(model, version, "agree" if answers_agree(primary, candidate) else "disagree")

    def in_flight(self) -> int:
        """Copies running now."""
        return len(self._tasks)

    async def aclose(self) -> None:
        """Cancel the copies still running."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
