"""Draining a version, shadow copies that never change the client's answer, and the request-timeout header."""

from __future__ import annotations

import asyncio

import pytest

from serving.gateway.core.errors import InvalidInput
from serving.gateway.core.lifecycle.deadline import deadline_from
from serving.gateway.core.lifecycle.drain import InFlight
from serving.gateway.core.lifecycle.shadow import ShadowMirror, Verdict, answers_agree

pytestmark = pytest.mark.anyio


async def test_a_version_is_drained_only_when_its_last_request_is_answered() -> None:
    flights = InFlight()
    release = asyncio.Event()

    async def request() -> None:
        with flights.hold("m", "1.0"):
            await release.wait()

    tasks = [asyncio.create_task(request()) for _ in range(3)]
    await asyncio.sleep(0)
    assert flights.count("m", "1.0") == 3
    assert await flights.drained("m", "1.0", 0.05) is False
    waiting = asyncio.create_task(flights.drained("m", "1.0", 5.0))
    await asyncio.sleep(0)
    assert not waiting.done()
    release.set()
    await asyncio.gather(*tasks)
    assert await waiting is True
    assert flights.count("m", "1.0") == 0
    assert await flights.drained("m", "1.1", 0.0) is True


def test_answers_agree_within_a_tolerance_and_disagree_otherwise() -> None:
    assert answers_agree(b'{"label": "cat", "p": 0.90000001}', b'{"p": 0.9, "label": "cat"}')
    assert not answers_agree(b'{"label": "cat"}', b'{"label": "dog"}')
    assert not answers_agree(b'{"y": [1.0, 2.0]}', b'{"y": [1.0]}')
    assert not answers_agree(b'{"ok": true}', b'{"ok": 1}')
    assert answers_agree(b"\x89PNG same", b"\x89PNG same")
    assert not answers_agree(b"\x89PNG one", b"\x89PNG two")


async def test_shadow_copies_are_compared_in_the_background_and_failures_stay_there() -> None:
    verdicts: list[tuple[str, str, Verdict]] = []
    mirror = ShadowMirror(lambda m, v, verdict: verdicts.append((m, v, verdict)), max_in_flight=8)
    hold = asyncio.Event()

    async def same() -> bytes:
        await hold.wait()
        return b'{"y": 1}'

    async def other() -> bytes:
        return b'{"y": 2}'

    async def broken() -> bytes:
        raise RuntimeError("candidate crashed")

    mirror.mirror("m", "1.1", b'{"y": 1}', same)  # returns at once: the caller never waits for the copy
    assert mirror.in_flight() == 1
    assert verdicts == []
    mirror.mirror("m", "1.1", b'{"y": 1}', other)
    mirror.mirror("m", "1.1", b'{"y": 1}', broken)
    hold.set()
    while mirror.in_flight():
        await asyncio.sleep(0)
    assert sorted(v[2] for v in verdicts) == ["agree", "disagree", "error"]


async def test_shadow_copies_beyond_the_bound_are_skipped() -> None:
    verdicts: list[Verdict] = []
    mirror = ShadowMirror(lambda m, v, verdict: verdicts.append(verdict), max_in_flight=2)

    async def forever() -> bytes:
        await asyncio.Event().wait()
        return b""

    for _ in range(3):
        mirror.mirror("m", "1.1", b"{}", forever)
    assert verdicts == ["skipped"]
    assert mirror.in_flight() == 2
    await mirror.aclose()


async def test_the_request_timeout_header_sets_a_deadline_on_the_loops_clock() -> None:
    now = asyncio.get_running_loop().time()
    assert deadline_from(None) is None
    deadline = deadline_from("1500")
    assert deadline is not None
    assert now + 1.4 < deadline < now + 1.6 + 1


@pytest.mark.parametrize("value", ["0", "-5", "1.5", "soon", "", "3600001"])
async def test_a_bad_request_timeout_header_is_a_400(value: str) -> None:
    with pytest.raises(InvalidInput, match="X-Request-Timeout-Ms must be a whole number of milliseconds from 1 to "
                                           "3600000") as caught:
        deadline_from(value)
    assert caught.value.status == 400
