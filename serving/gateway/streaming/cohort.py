"""Continuous batching of the streams of one model: their later steps leave together, so that one call to the
model carries them all instead of each stream's step finding a free slot and going alone.

Left alone, the streams drift apart: the coalescer sends whichever step finds a free slot at once, the steps
behind it wait for the next call, and from then on each group of streams has its own calls, each with its
fixed cost (a round trip through TorchServe), however few rows it carries. So a stream's later step waits at
the barrier until every other stream of its model is at the barrier too, or its step is in a call that has not
answered yet (it joins when that call answers), or has ended. A stream that took its chunk but has not asked for
the next one yet (its reader is slow, or has not run) is waited for `linger_s` at most, once per chunk: a slow
reader holds the others back that long, never longer. A stream alone never waits.

First chunks do not wait here (a new stream's time to first token is a call of its own), but the barrier waits
for them, and while streams keep arriving it waits for the next ones too (`settle_s` after the latest, at most
`max_hold_s` in all): a burst of new streams gets its first chunks before anyone's second, and from their second
chunk on they all share the calls."""

import asyncio
import time
from dataclasses import dataclass, field
from typing import Literal

State = Literal["calling", "taken", "waiting"]
# How long a stream that took its chunk is waited for (its reader is slow, or has not run yet): the others' delay
# when it is slow, once per chunk.
LINGER_S = 0.002
# While streams keep arriving (one joined less than SETTLE_S ago), the later steps of those there wait for them,
# MAX_HOLD_S at most: a burst of new streams gets its first chunks first, then every stream goes on in the same
# calls, instead of the first arrivals' long chunks going ahead of the last arrivals' first ones.
SETTLE_S = 0.005
MAX_HOLD_S = 0.05


@dataclass(eq=False)
class Member:
    """One stream in its model's cohort."""

    cohort: "Cohort"
    state: State = "calling"  # a stream joins with its first step on the way
    since: float = 0.0  # when it took its chunk ("taken") or came to the barrier ("waiting")
    released: "asyncio.Future[None] | None" = None

    def answered(self) -> None:
        """Its step was answered: it is between chunks until it asks for the next (or ends)."""
        self.state, self.since = "taken", time.perf_counter()

    async def ready(self) -> None:
        """Wait until its next step may leave with the others'; then it is calling."""
        self.cohort.arrive(self)
        released = self.released
        if self.state == "calling" or released is None:
            self.released = None
            return
        try:
            await released
        finally:
            self.released = None
            if self.state == "waiting":  # cancelled while waiting: its client left
                self.state = "taken"

    def leave(self) -> None:
        """The stream ended."""
        self.cohort.leave(self)


@dataclass
class Cohort:
    """The streams of one model version."""

    linger_s: float
    settle_s: float
    max_hold_s: float
    members: list[Member] = field(default_factory=list)
    joined: float = 0.0  # when the latest stream joined
    _timer: asyncio.TimerHandle | None = None

    def join(self) -> Member:
        """A new stream, whose first step is on the way."""
        member = Member(self)
        self.members.append(member)
        self.joined = time.perf_counter()
        return member

    def arrive(self, member: Member) -> None:
        member.state, member.since = "waiting", time.perf_counter()
        member.released = asyncio.get_running_loop().create_future()
        self._release_if_ready()

    def leave(self, member: Member) -> None:
        if member in self.members:
            self.members.remove(member)
            if member.released is not None and not member.released.done():
                member.released.cancel()
            self._release_if_ready()

    def _release_if_ready(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        waiting = [m for m in self.members if m.state == "waiting"]
        if not waiting:
            return
        now = time.perf_counter()
        if any(m.state == "calling" for m in self.members):
            return  # the call's streams will arrive when it answers, and release the rest
        holds = [m.since + self.linger_s - now for m in self.members if m.state == "taken"]
        if len(self.members) > 1:  # streams still arriving: their first chunks first, then all together
            oldest = min(m.since for m in waiting)
            holds.append(min(self.joined + self.settle_s, oldest + self.max_hold_s) - now)
        hold = max(holds, default=0.0)
        if hold > 0:
            self._timer = asyncio.get_running_loop().call_later(hold, self._release_if_ready)
            return
        for member in waiting:
            member.state = "calling"
            if member.released is not None and not member.released.done():
                member.released.set_result(None)


@dataclass
class Cohorts:
    """Every model version's cohort."""

    linger_s: float = LINGER_S
    settle_s: float = SETTLE_S
    max_hold_s: float = MAX_HOLD_S
    by_model: dict[tuple[str, str], Cohort] = field(default_factory=dict)

    def join(self, name: str, version: str) -> Member:
        """A new stream of the model version."""
        cohort = self.by_model.setdefault((name, version), Cohort(self.linger_s, self.settle_s, self.max_hold_s))
        return cohort.join()
