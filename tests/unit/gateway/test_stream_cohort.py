"""The cohort barrier (serving/gateway/streaming/cohort.py): the later steps of a model's streams leave together;
a stream alone never waits, a slow reader holds the others back `linger_s` at most, and one that leaves or is
cancelled holds nobody."""

from __future__ import annotations

import asyncio

import pytest

from serving.gateway.streaming.cohort import Cohorts, Member

pytestmark = pytest.mark.anyio


async def _turns(count: int = 5) -> None:
    for _ in range(count):
        await asyncio.sleep(0)


def _answered(*members: Member) -> None:
    for member in members:
        member.answered()


async def test_a_stream_alone_never_waits() -> None:
    alone = Cohorts(linger_s=10).join("m", "1")
    alone.answered()
    await asyncio.wait_for(alone.ready(), 0.1)
    assert alone.state == "calling"


async def test_the_first_to_ask_waits_for_the_others_then_all_leave_together() -> None:
    cohorts = Cohorts(linger_s=10)
    a, b, c = (cohorts.join("m", "1") for _ in range(3))
    _answered(a, b, c)
    first = asyncio.ensure_future(a.ready())
    second = asyncio.ensure_future(b.ready())
    await _turns()
    assert not first.done()
    assert not second.done()
    await asyncio.wait_for(c.ready(), 0.1)  # the last one releases everybody, itself included
    await asyncio.wait_for(asyncio.gather(first, second), 0.1)
    assert [m.state for m in (a, b, c)] == ["calling"] * 3


async def test_a_stream_in_a_call_is_waited_for_until_it_asks_again() -> None:
    cohorts = Cohorts(linger_s=10)
    ahead, behind = cohorts.join("m", "1"), cohorts.join("m", "1")  # both with a first step on the way
    ahead.answered()
    waiting = asyncio.ensure_future(ahead.ready())
    await _turns()
    assert not waiting.done()  # `behind` will answer and ask: the two then share a call
    behind.answered()
    await _turns()
    assert not waiting.done()
    await asyncio.wait_for(behind.ready(), 0.1)
    await asyncio.wait_for(waiting, 0.1)


async def test_models_and_versions_have_cohorts_of_their_own() -> None:
    cohorts = Cohorts(linger_s=10)
    other_model, other_version, mine = cohorts.join("n", "1"), cohorts.join("m", "2"), cohorts.join("m", "1")
    _answered(other_model, other_version, mine)
    await asyncio.wait_for(mine.ready(), 0.1)


async def test_a_slow_reader_holds_the_others_back_linger_s_at_most() -> None:
    cohorts = Cohorts(linger_s=0.05)
    fast, slow = cohorts.join("m", "1"), cohorts.join("m", "1")
    _answered(fast, slow)
    started = asyncio.get_running_loop().time()
    await asyncio.wait_for(fast.ready(), 1)
    assert 0.04 <= asyncio.get_running_loop().time() - started < 0.5
    fast.answered()  # its next step: `slow` has lingered past linger_s and holds nobody now
    await asyncio.wait_for(fast.ready(), 0.02)


async def test_a_stream_that_leaves_or_is_cancelled_releases_the_others() -> None:
    cohorts = Cohorts(linger_s=10)
    a, b, c = (cohorts.join("m", "1") for _ in range(3))
    _answered(a, b, c)
    waiting = asyncio.ensure_future(a.ready())
    cancelled = asyncio.ensure_future(b.ready())
    await _turns()
    cancelled.cancel()  # its client left while it waited
    await _turns()
    assert b.state == "taken"
    assert not waiting.done()
    b.leave()
    c.leave()
    await asyncio.wait_for(waiting, 0.1)
    assert cohorts.by_model[("m", "1")].members == [a]


async def test_while_streams_keep_arriving_the_later_steps_wait_for_them_max_hold_s_at_most() -> None:
    cohorts = Cohorts(linger_s=10, settle_s=0.04, max_hold_s=10)
    early = cohorts.join("m", "1")
    early.answered()
    late = cohorts.join("m", "1")  # a stream that just arrived: its first chunk comes before the other's second
    late.answered()
    waiting = asyncio.ensure_future(early.ready())
    await asyncio.sleep(0.02)
    assert not waiting.done()
    await asyncio.wait_for(late.ready(), 0.2)  # settle_s after the latest arrival, both leave
    await asyncio.wait_for(waiting, 0.01)
    bounded = Cohorts(linger_s=10, settle_s=10, max_hold_s=0.03)
    first, second = bounded.join("m", "1"), bounded.join("m", "1")
    _answered(first, second)
    started = asyncio.get_running_loop().time()
    await asyncio.wait_for(asyncio.gather(first.ready(), second.ready()), 0.5)
    assert 0.025 <= asyncio.get_running_loop().time() - started < 0.3
