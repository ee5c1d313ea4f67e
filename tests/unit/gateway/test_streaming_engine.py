"""The stream engine and the SSE writer without servers: a scripted model behind the core's `forward`, a scripted
ASGI server around the response. Chunk sizes, the stream bound, mid-stream failures and the idle timeout end
in the events and metrics they must; a slow reader holds one event; a disconnect stops the steps."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import pytest

from handlers import envelope
from serving.gateway.core.admission import Admission, ApiKeys
from serving.gateway.core.batching import Coalescer
from serving.gateway.core.catalog import Catalog, ModelEntry
from serving.gateway.core.dataplane import DataPlane
from serving.gateway.core.errors import Overloaded, UpstreamError
from serving.gateway.core.upstream import UpstreamResponse
from serving.gateway.frontends import stream_v1 as v1
from serving.gateway.observability import GatewayMetrics
from serving.gateway.settings import GatewaySettings
from serving.gateway.streaming.engine import GenerationRequest, TextStream
from serving.gateway.streaming.limits import StreamHub, StreamLimits, StreamSlots
from serving.gateway.streaming.metrics import StreamMetrics
from serving.gateway.streaming.sse import EventStreamResponse
from tests.unit.gateway.lifecycles import plain_lifecycle

ENTRY = ModelEntry("m", "text-generation", "1", {"max_new_tokens": 100}, {}, "")


class ScriptedModel:
    """Answers steps as the handler does (`x` per token); call `hang_at` never answers, `fail_at` fails."""

    def __init__(self, hang_at: int = 0, fail_at: int = 0) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.hang_at, self.fail_at = hang_at, fail_at

    async def predict(self, model: str, body: bytes, *_: Any, **__: Any) -> UpstreamResponse:
        self.bodies.append(json.loads(body))
        if len(self.bodies) == self.hang_at:
            await asyncio.Event().wait()
        if len(self.bodies) == self.fail_at:
            raise UpstreamError("model 'm' failed: Worker died.")
        answer = {"text": "x" * self.bodies[-1]["step"], "seed": 5, "resume": f"r{len(self.bodies)}"}
        return UpstreamResponse(json.dumps(answer).encode(), "application/json", 0.001)


def _state(model: ScriptedModel, tmp_path: Path, max_streams: int = 4, idle: float = 5.0) -> DataPlane:
    metrics = GatewayMetrics(known_models={"m"})
    hub = StreamHub(StreamLimits(max_streams, idle, 8, 64, 16), StreamSlots(max_streams),
                    StreamMetrics(metrics.registry, metrics.model_label))
    settings = GatewaySettings(_env_file=None, gateway_model_store=tmp_path)
    catalog = Catalog([ENTRY])
    return DataPlane(settings, catalog, None, ApiKeys(()), Admission(16), metrics, model,  # type: ignore[arg-type]
                     plain_lifecycle(catalog, metrics), hub)


def _sample(state: DataPlane, name: str, **labels: str) -> float:
    value = state.metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


async def _collect(stream: TextStream) -> list[bytes]:
    await stream.open()
    return [data async for data in v1._events(stream)]


def test_chunks_are_a_small_first_one_then_large_ones_alone_and_smaller_ones_shared() -> None:
    limits = StreamLimits(4, 1.0, 8, 64, 16)
    assert [limits.next_chunk(0, 200, 1), limits.next_chunk(8, 192, 1), limits.next_chunk(136, 64, 1)] == [8, 64, 64]
    assert [limits.next_chunk(0, 200, 3), limits.next_chunk(8, 192, 3), limits.next_chunk(190, 10, 2)] == [8, 16, 10]
    assert limits.next_chunk(0, 5, 1) == 5


def test_a_stream_over_the_bound_is_refused_with_retry_after() -> None:
    slots = StreamSlots(1)
    slots.take()
    with pytest.raises(Overloaded, match="^1 streams are open, the most the gateway allows; retry shortly$") as error:
        slots.take()
    assert (error.value.status, error.value.headers) == (429, {"Retry-After": "1"})
    slots.give_back()
    slots.take()


def test_the_steps_carry_the_prompt_once_and_then_the_resume(tmp_path: Path) -> None:
    model = ScriptedModel()
    state = _state(model, tmp_path)
    request = GenerationRequest("hi", 80, {"temperature": 0.5, "seed": 9})
    events = asyncio.run(_collect(TextStream(state, ENTRY, request, None)))
    assert model.bodies == [{"prompt": "hi", "temperature": 0.5, "seed": 9, "step": 8},
                            {"temperature": 0.5, "resume": "r1", "step": 64},
                            {"temperature": 0.5, "resume": "r2", "step": 8}]
    assert events == [b'data: {"text":"xxxxxxxx"}\n\n', f'data: {{"text":"{"x" * 64}"}}\n\n'.encode(),
                      b'data: {"text":"xxxxxxxx"}\n\n',
                      b'event: done\ndata: {"finish_reason":"length","prompt_tokens":2,"completion_tokens":80,'
                      b'"seed":5}\n\n']
    assert _sample(state, "gateway_streams_total", model="m", outcome="completed") == 1
    assert _sample(state, "gateway_stream_tokens_total", model="m") == 80
    assert _sample(state, "gateway_stream_inter_token_seconds_count", model="m") == 2
    assert _sample(state, "gateway_streams_active") == 0


def test_streams_open_together_ask_for_shared_chunks(tmp_path: Path) -> None:
    model = ScriptedModel()
    state = _state(model, tmp_path)

    async def two() -> list[list[bytes]]:
        streams = [TextStream(state, ENTRY, GenerationRequest("hi", 40, {}), None) for _ in range(2)]
        for stream in streams:
            await stream.open()

        async def read(stream: TextStream) -> list[bytes]:
            return [data async for data in v1._events(stream)]

        return list(await asyncio.gather(*(read(s) for s in streams)))

    texts = ["".join(json.loads(e.removeprefix(b"data: "))["text"] for e in events if e.startswith(b"data:"))
             for events in asyncio.run(two())]
    assert texts == ["x" * 40, "x" * 40]
    assert [body["step"] for body in model.bodies[:4]] == [8, 8, 16, 16]  # the second chunks: both streams open


class EnvelopeModel:
    """TorchServe behind the real coalescer: answers steps alone or enveloped, a little later, and notes each call's
    steps (a first one by its prompt, a later one by its resume)."""

    def __init__(self) -> None:
        self.calls: list[list[int]] = []  # each call's step sizes

    async def send(self, model: str, body: bytes, content_type: str, *_: Any) -> UpstreamResponse:
        items = envelope.unpack_requests(body) if content_type == envelope.CONTENT_TYPE else [({}, body)]
        steps = [json.loads(item) for _, item in items]
        self.calls.append([step["step"] for step in steps])
        await asyncio.sleep(0.005)
        answers = [json.dumps({"text": "x" * step["step"], "seed": 5, "resume": "r"}).encode() for step in steps]
        if content_type != envelope.CONTENT_TYPE:
            return UpstreamResponse(answers[0], "application/json", 0.005)
        packed = envelope.pack_responses([(200, "application/json", answer) for answer in answers])
        return UpstreamResponse(packed, envelope.CONTENT_TYPE, 0.005)


def test_the_later_steps_of_streams_that_opened_apart_share_calls(tmp_path: Path) -> None:
    """Streams that open a millisecond apart get their first chunks in different calls; left to the coalescer,
    each would go on in calls of its own. The cohort makes their later steps leave together."""
    model = EnvelopeModel()
    state = _state(model, tmp_path, max_streams=8)  # type: ignore[arg-type]
    state.batcher = Coalescer(model.send, max_items=32, max_in_flight=2, max_bytes=1 << 20, timeout_s=5)

    async def stream(delay: float) -> list[bytes]:
        await asyncio.sleep(delay)
        opened = TextStream(state, ENTRY, GenerationRequest("hi", 40, {}), None)
        await opened.open()
        return await _read(opened)

    async def streams() -> list[list[bytes]]:
        return list(await asyncio.gather(*(stream(i * 0.001) for i in range(4))))

    texts = ["".join(json.loads(e.removeprefix(b"data: "))["text"] for e in events if e.startswith(b"data:"))
             for events in asyncio.run(streams())]
    assert texts == ["x" * 40] * 4
    assert sorted(model.calls[-2:]) == [[16] * 4, [16] * 4]  # every later chunk: one call for the four
    assert len(model.calls) == 5  # and the first chunks in three: the first alone, the second alone, two together


async def _read(stream: TextStream) -> list[bytes]:
    return [data async for data in v1._events(stream)]


def test_a_failure_midway_ends_with_an_error_event(tmp_path: Path) -> None:
    state = _state(ScriptedModel(fail_at=2), tmp_path)
    events = asyncio.run(_collect(TextStream(state, ENTRY, GenerationRequest("hi", 80, {}), None)))
    assert events == [b'data: {"text":"xxxxxxxx"}\n\n',
                      b'event: error\ndata: {"error":"model \'m\' failed: Worker died."}\n\n']
    assert _sample(state, "gateway_streams_total", model="m", outcome="failed") == 1
    assert (_sample(state, "gateway_streams_active"), state.streams.slots.open) == (0, 0)


def test_a_model_that_stops_answering_ends_the_stream_after_the_idle_timeout(tmp_path: Path) -> None:
    state = _state(ScriptedModel(hang_at=2), tmp_path, idle=0.05)
    events = asyncio.run(_collect(TextStream(state, ENTRY, GenerationRequest("hi", 80, {}), None)))
    assert events[-1] == (b'event: error\ndata: {"error":"model \'m\' made no token for 0.05 s; '
                          b'the stream was ended"}\n\n')
    assert state.streams.slots.open == 0


def test_a_failed_first_step_gives_the_slot_back(tmp_path: Path) -> None:
    state = _state(ScriptedModel(fail_at=1), tmp_path, max_streams=1)
    with pytest.raises(UpstreamError):
        asyncio.run(TextStream(state, ENTRY, GenerationRequest("hi", 80, {}), None).open())
    assert (state.streams.slots.open, _sample(state, "gateway_streams_active")) == (0, 0)


async def _run(response: EventStreamResponse, send_blocks_after: int, disconnect: asyncio.Event) -> list[Any]:
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        await disconnect.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if len(sent) >= send_blocks_after:
            await asyncio.Event().wait()  # a reader that stopped reading: the transport stays paused
        sent.append(message)

    await response({"type": "http"}, receive, send)  # type: ignore[arg-type]
    return sent


def test_a_slow_reader_holds_one_event_and_is_dropped_after_the_idle_timeout() -> None:
    made: list[int] = []
    closed = asyncio.Event()

    async def events() -> AsyncGenerator[bytes, None]:
        try:
            for i in range(1000):
                made.append(i)
                yield b"data: {}\n\n"
        finally:
            closed.set()

    sent = asyncio.run(_run(EventStreamResponse(events(), 0.05), send_blocks_after=2, disconnect=asyncio.Event()))
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert made == [0, 1]  # the event being sent; none made ahead of the reader
    assert closed.is_set()


def test_a_disconnect_stops_the_steps(tmp_path: Path) -> None:
    model = ScriptedModel(hang_at=2)
    state = _state(model, tmp_path)

    async def scenario() -> list[Any]:
        stream = TextStream(state, ENTRY, GenerationRequest("hi", 100, {}), None)
        await stream.open()
        disconnect = asyncio.Event()
        task = asyncio.create_task(_run(EventStreamResponse(v1._events(stream), 5.0), 10, disconnect))
        while len(model.bodies) < 2:  # the second step is in flight
            await asyncio.sleep(0.01)
        disconnect.set()
        return await task

    sent = asyncio.run(scenario())
    assert len(model.bodies) == 2  # no step after the client left
    assert [m.get("body") for m in sent[1:]] == [b'data: {"text":"xxxxxxxx"}\n\n']
    assert _sample(state, "gateway_streams_total", model="m", outcome="cancelled") == 1
    assert (state.streams.slots.open, _sample(state, "gateway_streams_active")) == (0, 0)


def test_a_client_gone_before_the_first_event_gives_its_slot_back(tmp_path: Path) -> None:
    """The disconnect can win before the writer ever iterates the events; the stream still ends (cancelled)."""
    state = _state(ScriptedModel(), tmp_path, max_streams=1)

    async def scenario() -> None:
        stream = TextStream(state, ENTRY, GenerationRequest("hi", 80, {}), None)
        await stream.open()
        gone = asyncio.Event()
        gone.set()
        await _run(EventStreamResponse(v1._events(stream), 5.0, on_close=stream.close), 0, gone)

    asyncio.run(scenario())
    assert (state.streams.slots.open, _sample(state, "gateway_streams_active")) == (0, 0)
    assert _sample(state, "gateway_streams_total", model="m", outcome="cancelled") == 1
