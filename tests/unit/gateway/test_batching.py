"""The gateway's coalescer: a lone request goes at once and plain; requests queued behind calls in flight go as
one envelope, each with its own answer; failures reach exactly the requests they concern."""

from __future__ import annotations

import asyncio
import json

import pytest

from handlers import envelope
from serving.gateway.core.batching import Coalescer
from serving.gateway.core.errors import BadModelAnswer, InvalidInput, UpstreamTimeout, UpstreamUnavailable
from serving.gateway.core.upstream import UpstreamResponse

pytestmark = pytest.mark.anyio


class FakeTorchServe:
    """Answers `{"x": n}` with `{"y": 2n}` (400 for negative n), alone or enveloped; holds calls until released."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []  # (content type, number of requests)
        self.bodies: list[bytes] = []  # what each call sent
        self.tasks: list[asyncio.Task[object] | None] = []  # the task each call ran in
        self.gate = asyncio.Event()
        self.fail: Exception | None = None

    async def send(self, model: str, body: bytes, content_type: str, accept: str | None,
                   request_id: str | None) -> UpstreamResponse:
        enveloped = content_type == envelope.CONTENT_TYPE
        items = envelope.unpack_requests(body) if enveloped else [({"content-type": content_type}, body)]
        self.calls.append((content_type, len(items)))
        self.bodies.append(body)
        self.tasks.append(asyncio.current_task())
        await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        answers = [self._answer(item) for _, item in items]
        if enveloped:
            return UpstreamResponse(envelope.pack_responses(answers), envelope.CONTENT_TYPE, 0.01)
        status, kind, payload = answers[0]
        if status != 200:
            raise InvalidInput(json.loads(payload)["error"], status)
        return UpstreamResponse(payload, kind, 0.01)

    @staticmethod
    def _answer(body: bytes) -> tuple[int, str, bytes]:
        x = json.loads(body)["x"]
        if x < 0:
            return 400, "application/json", json.dumps({"error": f"negative: {x}"}).encode()
        return 200, "application/json", json.dumps({"y": 2 * x}).encode()


def _request(coalescer: Coalescer, x: int) -> asyncio.Task[UpstreamResponse]:
    body = json.dumps({"x": x}).encode()
    return asyncio.ensure_future(coalescer.predict("m", body, "application/json", None, None))


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_lone_request_goes_at_once_and_plain() -> None:
    server = FakeTorchServe()
    sizes: list[int] = []
    coalescer = Coalescer(server.send, max_items=8, max_in_flight=1, max_bytes=1 << 20, timeout_s=5,
                          observe=lambda model, size: sizes.append(size))
    server.gate.set()
    lone = _request(coalescer, 4)
    answer = await lone
    assert json.loads(answer.body) == {"y": 8}
    assert server.calls == [("application/json", 1)]
    assert server.tasks == [lone]  # sent from the request's own task, not one of the queue's
    assert sizes == [1]


async def test_requests_queued_behind_a_call_go_as_one_envelope() -> None:
    server = FakeTorchServe()
    coalescer = Coalescer(server.send, max_items=8, max_in_flight=1, max_bytes=1 << 20, timeout_s=5)
    first = _request(coalescer, 1)
    await _settle()
    queued = [_request(coalescer, x) for x in (2, -3, 4)]
    await _settle()
    assert server.calls == [("application/json", 1)]  # the others wait for the call in flight
    server.gate.set()
    assert json.loads((await first).body) == {"y": 2}
    results = await asyncio.gather(*queued, return_exceptions=True)
    assert server.calls[1] == (envelope.CONTENT_TYPE, 3)
    assert json.loads(results[0].body) == {"y": 4}  # type: ignore[union-attr]
    assert isinstance(results[1], InvalidInput)
    assert (results[1].status, results[1].message) == (400, "negative: -3")
    assert json.loads(results[2].body) == {"y": 8}  # type: ignore[union-attr]


# "content-type: application/json\naccept: " is 39 bytes: this Accept makes a header block of 65,536 bytes, one more
# than the envelope's u16 length field holds
OVERSIZE_ACCEPT = "a" * (65536 - 39)
TOO_LARGE = ("request headers too large for model 'm': the headers take 65536 bytes; a batch envelope carries at most "
             "65535 bytes of headers per request")


async def test_a_request_whose_headers_cannot_travel_fails_alone_with_431() -> None:
    server = FakeTorchServe()
    coalescer = Coalescer(server.send, max_items=8, max_in_flight=1, max_bytes=1 << 20, timeout_s=5)
    first = _request(coalescer, 1)
    await _settle()
    oversize = asyncio.ensure_future(coalescer.predict("m", b'{"x": 3}', "application/json", OVERSIZE_ACCEPT, None))
    queued = [_request(coalescer, 2), oversize, _request(coalescer, 4)]
    await _settle()
    server.gate.set()
    assert json.loads((await first).body) == {"y": 2}
    results = await asyncio.gather(*queued, return_exceptions=True)
    assert server.calls == [("application/json", 1), (envelope.CONTENT_TYPE, 2)]  # the others still went together
    assert json.loads(results[0].body) == {"y": 4}  # type: ignore[union-attr]
    assert isinstance(results[1], InvalidInput)
    assert (results[1].status, results[1].message) == (431, TOO_LARGE)
    assert json.loads(results[2].body) == {"y": 8}  # type: ignore[union-attr]


async def test_headers_that_cannot_travel_get_431_from_a_free_slot_too() -> None:
    server = FakeTorchServe()
    coalescer = Coalescer(server.send, max_items=8, max_in_flight=1, max_bytes=1 << 20, timeout_s=5)
    server.gate.set()
    with pytest.raises(InvalidInput, match="request headers too large") as refused:
        await coalescer.predict("m", b'{"x": 3}', "application/json", OVERSIZE_ACCEPT, None)
    assert (refused.value.status, refused.value.message) == (431, TOO_LARGE)
    assert server.calls == []
    fits = await coalescer.predict("m", b'{"x": 3}', "application/json", OVERSIZE_ACCEPT[:-1], None)
    assert json.loads(fits.body) == {"y": 6}


async def test_envelopes_hold_at_most_max_items_and_max_bytes() -> None:
    server = FakeTorchServe()
    coalescer = Coalescer(server.send, max_items=3, max_in_flight=1, max_bytes=1 << 20, timeout_s=5)
    tasks = [_request(coalescer, x) for x in range(8)]
    await _settle()
    server.gate.set()
    await asyncio.gather(*tasks)
    assert [size for _, size in server.calls] == [1, 3, 3, 1]
    small = FakeTorchServe()  # 8-byte bodies: three fit in 24 bytes
    by_bytes = Coalescer(small.send, max_items=100, max_in_flight=1, max_bytes=24, timeout_s=5)
    tasks = [_request(by_bytes, x) for x in range(7)]
    await _settle()
    small.gate.set()
    await asyncio.gather(*tasks)
    assert [size for _, size in small.calls] == [1, 3, 3]


async def test_a_failed_call_fails_every_request_it_carried_and_only_those() -> None:
    server = FakeTorchServe()
    coalescer = Coalescer(server.send, max_items=8, max_in_flight=1, max_bytes=1 << 20, timeout_s=5)
    server.fail = UpstreamUnavailable("the model server is unavailable")
    tasks = [_request(coalescer, x) for x in range(4)]
    await _settle()
    server.gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, UpstreamUnavailable) for r in results)
    server.fail = None
    assert json.loads((await _request(coalescer, 5)).body) == {"y": 10}  # the queue is not stuck


async def test_a_wrong_envelope_answer_is_an_upstream_error() -> None:
    async def send(model: str, body: bytes, content_type: str, accept: str | None,
                   request_id: str | None) -> UpstreamResponse:
        await asyncio.sleep(0.01)
        return UpstreamResponse(b'{"label": "not an envelope"}', "application/json", 0.01)

    coalescer = Coalescer(send, max_items=8, max_in_flight=1, max_bytes=1 << 20, timeout_s=5)
    tasks = [_request(coalescer, x) for x in range(3)]
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert not isinstance(results[0], Exception)  # went alone
    assert all(isinstance(r, BadModelAnswer) and "something else" in r.message for r in results[1:])


async def test_an_envelope_with_the_wrong_number_of_answers_is_a_bad_model_answer_for_each() -> None:
    async def send(model: str, body: bytes, content_type: str, accept: str | None,
                   request_id: str | None) -> UpstreamResponse:
        await asyncio.sleep(0.01)
        if content_type != envelope.CONTENT_TYPE:
            return UpstreamResponse(b'{"y": 0}', "application/json", 0.01)
        return UpstreamResponse(envelope.pack_responses([(200, "application/json", b'{"y": 1}')]),
                                envelope.CONTENT_TYPE, 0.01)  # one answer, whatever the batch held

    coalescer = Coalescer(send, max_items=8, max_in_flight=1, max_bytes=1 << 20, timeout_s=5)
    results = await asyncio.gather(*(_request(coalescer, x) for x in range(4)), return_exceptions=True)
    assert not isinstance(results[0], Exception)  # went alone
    assert [(type(r), r.status, r.message) for r in results[1:] if isinstance(r, BadModelAnswer)] == [
        (BadModelAnswer, 502, "model 'm' answered 1 of 3 batched requests")] * 3


async def test_a_client_that_left_is_not_sent() -> None:
    server = FakeTorchServe()
    coalescer = Coalescer(server.send, max_items=8, max_in_flight=1, max_bytes=1 << 20, timeout_s=5)
    first = _request(coalescer, 1)
    await _settle()
    gone, staying = _request(coalescer, 2), _request(coalescer, 3)
    await _settle()
    gone.cancel()
    server.gate.set()
    await first
    assert json.loads((await staying).body) == {"y": 6}
    assert server.calls[1] == ("application/json", 1)  # only the one still waiting


@pytest.mark.parametrize(("max_items", "body_size"), [(1, 10), (8, 600)])
async def test_off_or_too_big_goes_straight_through(max_items: int, body_size: int) -> None:
    server = FakeTorchServe()
    coalescer = Coalescer(server.send, max_items=max_items, max_in_flight=1, max_bytes=1000, timeout_s=5)
    server.gate.set()
    body = json.dumps({"x": 1, "pad": "." * body_size}).encode()
    await asyncio.gather(*(coalescer.predict("m", body, "application/json", None, None) for _ in range(3)))
    assert server.calls == [("application/json", 1)] * 3


async def test_a_request_queued_behind_a_hung_call_times_out_like_one() -> None:
    server = FakeTorchServe()  # never released
    coalescer = Coalescer(server.send, max_items=8, max_in_flight=1, max_bytes=1 << 20, timeout_s=0.2)
    started = asyncio.get_running_loop().time()
    results = await asyncio.gather(_request(coalescer, 1), _request(coalescer, 2), return_exceptions=True)
    assert all(isinstance(r, UpstreamTimeout) for r in results)
    assert asyncio.get_running_loop().time() - started < 0.4  # each bounded by its own 0.2 s, queue included


def _grouped(coalescer: Coalescer, x: int, group: int) -> asyncio.Task[UpstreamResponse]:
    body = json.dumps({"x": x}).encode()
    return asyncio.ensure_future(coalescer.predict("m", body, "application/json", None, None, group=group))


async def test_grouped_requests_of_one_loop_turn_go_as_one_envelope_though_slots_are_free() -> None:
    """Without groups the first two would go alone (two free slots) and the rest behind them."""
    server = FakeTorchServe()
    coalescer = Coalescer(server.send, max_items=8, max_in_flight=2, max_bytes=1 << 20, timeout_s=5)
    server.gate.set()
    results = await asyncio.gather(*(_grouped(coalescer, x, 1) for x in range(5)))
    assert server.calls == [(envelope.CONTENT_TYPE, 5)]
    assert [json.loads(r.body) for r in results] == [{"y": 2 * x} for x in range(5)]


async def test_an_envelope_carries_one_group_and_lower_groups_leave_first() -> None:
    server = FakeTorchServe()
    coalescer = Coalescer(server.send, max_items=8, max_in_flight=1, max_bytes=1 << 20, timeout_s=5)
    later = [_grouped(coalescer, x, 1) for x in (1, 2)]
    first = [_grouped(coalescer, x, 0) for x in (3, 4, 5)]
    await _settle()
    assert [body for _, body in envelope.unpack_requests(server.bodies[0])] == [b'{"x": 3}', b'{"x": 4}', b'{"x": 5}']
    server.gate.set()
    await asyncio.gather(*later, *first)
    assert server.calls == [(envelope.CONTENT_TYPE, 3), (envelope.CONTENT_TYPE, 2)]


async def test_plain_requests_go_before_groups_and_never_share_their_envelope() -> None:
    server = FakeTorchServe()
    coalescer = Coalescer(server.send, max_items=8, max_in_flight=1, max_bytes=1 << 20, timeout_s=5)
    busy = _request(coalescer, 0)  # the slot is taken: everything after it waits
    await _settle()
    waiting = [_grouped(coalescer, 1, 0), _request(coalescer, 2), _grouped(coalescer, 3, 0), _request(coalescer, 4)]
    await _settle()
    server.gate.set()
    await asyncio.gather(busy, *waiting)
    assert server.calls == [("application/json", 1), (envelope.CONTENT_TYPE, 2), (envelope.CONTENT_TYPE, 2)]
    assert [body for _, body in envelope.unpack_requests(server.bodies[1])] == [b'{"x": 2}', b'{"x": 4}']


async def test_a_grouped_request_whose_client_left_is_not_sent() -> None:
    server = FakeTorchServe()
    coalescer = Coalescer(server.send, max_items=8, max_in_flight=1, max_bytes=1 << 20, timeout_s=5)
    busy = _request(coalescer, 0)
    await _settle()
    gone, staying = _grouped(coalescer, 1, 0), _grouped(coalescer, 2, 0)
    await _settle()
    gone.cancel()
    server.gate.set()
    await busy
    assert json.loads((await staying).body) == {"y": 4}
    assert server.calls == [("application/json", 1), ("application/json", 1)]
