"""Requests in flight per model version, so that a version leaving the policy is unregistered only once its
last request has been answered (a zero-downtime replacement)."""

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager


class InFlight:
    """Counts the requests each (model, version) is answering, and wakes whoever waits for one to drain."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str], int] = {}
        self._idle: dict[tuple[str, str], asyncio.Event] = {}

    @contextmanager
    def hold(self, model: str, version: str) -> Iterator[None]:
        """Count one request for the duration of its call."""
        key = (model, version)
        self._counts[key] = self._counts.get(key, 0) + 1
        try:
            yield
        finally:
            self._counts[key] -= 1
            if self._counts[key] == 0:
                del self._counts[key]
                idle = self._idle.pop(key, None)
                if idle is not None:
                    idle.set()

    def count(self, model: str, version: str) -> int:
        """Requests the version is answering now."""
        return self._counts.get((model, version), 0)

    async def drained(self, model: str, version: str, timeout_s: float) -> bool:
        """Wait until the version answers nothing; False when `timeout_s` passed first."""
        key = (model, version)
        if key not in self._counts:
            return True
        idle = self._idle.setdefault(key, asyncio.Event())
        try:
            async with asyncio.timeout(timeout_s):
                await idle.wait()
        except TimeoutError:
            return False
        return True
