"""A continuation generated chunk by chunk through the gateway's data plane: each chunk is one step request
(handlers/generation_step.py) to the model, and the next is asked for only when the reader has taken the one
before. A later step waits for the other streams of its model (streaming/cohort.py), and the core's coalescer
sends the steps that leave together in one call.

So a client that goes away stops the generation at once (its next step is never sent, or is dropped from the
coalescer's queue), a slow reader holds at most one chunk in the gateway, and every stream shares the worker
with the others. Front-ends (SSE on v1 and v2, a gRPC stream) iterate `TextStream.events()`."""

import asyncio
import json
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

from serving.gateway.core.answers import answer_object
from serving.gateway.core.catalog import ModelEntry
from serving.gateway.core.dataplane import DataPlane
from serving.gateway.core.errors import GatewayError, InvalidInput, UpstreamTimeout
from serving.gateway.streaming.cohort import Member
from serving.gateway.streaming.metrics import Outcome

OPTIONS = ("temperature", "top_k")  # sent with every step; the seed only with the first
# The coalescer's groups (core/batching.py): first chunks go in calls of their own, ahead of later chunks, so
# that a new stream's first chunk never waits inside one call for the long chunks of others.
FIRST_CHUNKS, LATER_CHUNKS = 0, 1


@dataclass(frozen=True)
class GenerationRequest:
    """What a front-end asks for: the prompt, how many tokens, and the sampling options as the client sent them
    (the model's handler validates them on the first step)."""

    prompt: str
    max_new_tokens: int
    options: dict[str, Any]


@dataclass(frozen=True)
class Chunk:
    """Text the model made, in order."""

    text: str


@dataclass(frozen=True)
class Finish:
    """The stream's last event."""

    reason: str  # "length": the model has no end token, so a continuation ends at max_new_tokens
    prompt_tokens: int
    completion_tokens: int
    seed: int


def streams(entry: ModelEntry) -> bool:
    """Whether the model can stream (its metadata says so)."""
    return entry.model_kind.streams


def generation_request(entry: ModelEntry, fields: dict[str, Any]) -> GenerationRequest:
    """Validate what the gateway itself must know of a streamed request; the rest is the handler's."""
    if not streams(entry):
        raise InvalidInput(f"model {entry.name!r} does not stream; only text-generation models do")
    prompt = fields.get("prompt")
    if not isinstance(prompt, str):
        raise InvalidInput("'prompt' must be a string")
    cap = int(entry.signature["max_new_tokens"])
    count = fields.get("max_new_tokens", min(64, cap))
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= cap:
        raise InvalidInput(f"'max_new_tokens' must be an integer between 1 and {cap}, got {count!r:.40}")
    options = {k: fields[k] for k in (*OPTIONS, "seed") if fields.get(k) is not None}
    return GenerationRequest(prompt, count, options)


class TextStream:
    """One stream: `open()` makes the first chunk (a bad request fails there, before any event), `events()`
    yields it, the later chunks and the Finish; a failure midway raises from `events()` for the front-end to
    send as an error event. It holds a stream slot from `open()` until `events()` ends or is closed."""

    def __init__(self, plane: DataPlane, entry: ModelEntry, request: GenerationRequest,
                 request_id: str | None) -> None:
        self.plane, self.entry, self.request, self.request_id = plane, entry, request, request_id
        self.hub = plane.streams
        self.started = time.perf_counter()
        self._first: dict[str, Any] | None = None
        self._first_size, self._produced, self._ended = 0, 0, False
        self._member: Member | None = None  # in its model's cohort from open() until the stream ends

    async def open(self) -> None:
        """Take a slot (or 429) and make the first chunk (or raise the request's error)."""
        self.hub.slots.take()
        self.hub.metrics.active.inc()
        self._member = self.hub.cohorts.join(self.entry.name, self.entry.version)
        self._first_size = self.hub.limits.next_chunk(0, self.request.max_new_tokens, self.hub.slots.open)
        try:
            self._first = await self._step({"prompt": self.request.prompt, **self.request.options}, self._first_size,
                                           self._first_size == self.request.max_new_tokens)
        except BaseException:
            self._end("failed", 0)
            raise

    async def events(self) -> AsyncGenerator[Chunk | Finish, None]:
        """The chunks, then the Finish. Closing it early (a client gone) ends the stream as cancelled."""
        first = self._first
        assert first is not None, "open() first"
        metrics, model, total = self.hub.metrics, self.entry.name, self.request.max_new_tokens
        answer, size, produced, sent = first, self._first_size, 0, self.started
        outcome: Outcome = "cancelled"
        try:
            while True:
                now = time.perf_counter()
                if produced:
                    metrics.next_chunk(model, now - sent, size)
                else:
                    metrics.first_chunk(model, now - self.started, size)
                produced, sent = produced + size, now
                self._produced = produced
                yield Chunk(str(answer["text"]))
                if produced == total:
                    break
                size = self.hub.limits.next_chunk(produced, total - produced, self.hub.slots.open)
                answer = await self._step({**self._options(), "resume": answer["resume"]}, size,
                                          produced + size == total)
            outcome = "completed"
            yield Finish("length", len(self.request.prompt) or 1, produced, int(first["seed"]))
        except GatewayError:
            outcome = "failed"
            raise
        finally:
            self._end(outcome, produced)

    def _options(self) -> dict[str, Any]:
        return {k: v for k, v in self.request.options.items() if k in OPTIONS}

    async def _step(self, fields: dict[str, Any], size: int, last: bool) -> dict[str, Any]:
        """One chunk: a first one at once, a later one with the other streams' of its model (streaming/cohort.py).
        Then the stream is between chunks, or out of the cohort after its last."""
        first, member = "resume" not in fields, self._member
        assert member is not None, "open() first"
        body = json.dumps({**fields, "step": size}).encode()
        try:
            async with asyncio.timeout(self.hub.limits.idle_timeout_s):
                if not first:
                    await member.ready()
                result = await self.plane.predict(self.entry, body, "application/json", None, self.request_id,
                                                  group=FIRST_CHUNKS if first else LATER_CHUNKS)
        except TimeoutError:
            raise UpstreamTimeout(f"model {self.entry.name!r} made no token for "
                                  f"{self.hub.limits.idle_timeout_s:g} s; the stream was ended") from None
        if last:
            member.leave()
        else:
            member.answered()
        return answer_object(self.entry.name, result.body, "text", "seed", "resume")  # the step protocol's keys

    def close(self) -> None:
        """End the stream as cancelled if it has not ended: a client that left before `events()` was iterated
        (an async generator never started runs no `finally`) must give its slot back too."""
        self._end("cancelled", self._produced)

    def _end(self, outcome: Outcome, tokens: int) -> None:
        if self._ended:
            return
        self._ended = True
        if self._member is not None:
            self._member.leave()
        self.hub.slots.give_back()
        self.hub.metrics.active.dec()
        self.hub.metrics.ended(self.entry.name, outcome, tokens, time.perf_counter() - self.started)

