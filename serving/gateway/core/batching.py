"""Request coalescing: while a model has `max_in_flight` calls out to TorchServe, the requests that arrive for it
wait, and go together in one batch envelope (handlers/envelope.py) when a call returns.

No timer: a request that finds a free slot leaves at once, so a lone client pays nothing, and under load the
batches grow exactly as large as the backlog. Each request still gets its own answer and status: the handler
answers every item as if it had come alone. TorchServe's frontend and the gateway's HTTP client then work once
per envelope instead of once per request, which on a small machine is CPU given back to the model.

A request may instead name a `group` (the stream engine's steps do: serving/gateway/streaming/engine.py): it
waits for the rest of the event loop's turn, so that the steps which arrive together (the streams an envelope
answer just woke) go in one envelope instead of the first two alone and the rest behind them. An envelope then
carries one group only (a stream's short first chunk never waits for the long chunks of others in the same
call), and lower groups leave first; plain requests, before any group.

A request whose headers the envelope cannot carry (handlers/envelope.py's length fields) is refused alone with
431, whether it would have gone alone or batched: its answer never depends on the traffic beside it."""

import asyncio
import contextvars
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from handlers import envelope
from serving.gateway.core.errors import BadModelAnswer, InvalidInput, UpstreamTimeout
from serving.gateway.core.upstream import UpstreamResponse, result_of

Send = Callable[[str, bytes, str, str | None, str | None], Awaitable[UpstreamResponse]]
Observe = Callable[[str, int], None]


@dataclass
class _Waiting:
    headers: dict[str, str]
    body: bytes
    request_id: str | None
    future: "asyncio.Future[UpstreamResponse]"
    context: contextvars.Context  # the request's (its request id, its trace): a batch call runs in its first's
    group: int = -1  # -1: a plain request; else the group it goes to the model with


@dataclass
class _Queue:
    waiting: deque[_Waiting] = field(default_factory=deque)
    in_flight: int = 0
    gathering: bool = False  # grouped requests wait for the end of this loop turn before they may leave


class Coalescer:
    """Sends each model's requests to TorchServe, coalescing those that queue behind calls in flight."""

    def __init__(self, send: Send, max_items: int, max_in_flight: int, max_bytes: int, timeout_s: float,
                 observe: Observe | None = None) -> None:
        self._send = send
        self.timeout_s = timeout_s  # a request's whole wait, queue included, as for a lone call
        self._observe = observe or (lambda model, size: None)
        self.max_items, self.max_in_flight, self.max_bytes = max_items, max_in_flight, max_bytes
        self._queues: dict[str, _Queue] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def predict(self, model: str, body: bytes, content_type: str, accept: str | None,
                      request_id: str | None, group: int | None = None) -> UpstreamResponse:
        """The model's answer to this request (or the domain error TorchServe's answer maps to); 431 for headers
        too large to travel. With a `group` (0 or more), the request goes with the others of its group that
        arrive in the same loop turn."""
        headers = {"content-type": content_type, **({"accept": accept} if accept else {})}
        try:  # the same check for a lone request, so that its answer never depends on the traffic beside it
            envelope.header_block(headers)
        except envelope.ItemTooLarge as error:
            raise InvalidInput(f"request headers too large for model {model!r}: {error}", 431) from None
        if self.max_items <= 1 or len(body) > self.max_bytes // 2:  # off, or too big to share an envelope
            self._observe(model, 1)
            return await self._send(model, body, content_type, accept, request_id)
        queue = self._queues.setdefault(model, _Queue())
        if group is None and not queue.waiting and queue.in_flight < self.max_in_flight:
            # A free slot and no one ahead: the request goes itself, from its own task (no task or future of
            # the queue's: at 1 connection every request takes this way).
            queue.in_flight += 1
            self._observe(model, 1)
            try:
                async with asyncio.timeout(self.timeout_s):
                    return await self._send(model, body, content_type, accept, request_id)
            except TimeoutError:
                raise UpstreamTimeout.of(model) from None
            finally:
                queue.in_flight -= 1
                self._dispatch(model)
        future: asyncio.Future[UpstreamResponse] = asyncio.get_running_loop().create_future()
        queue.waiting.append(_Waiting(headers, body, request_id, future, contextvars.copy_context(),
                                      -1 if group is None else group))
        if group is None:
            self._dispatch(model)
        elif not queue.gathering:
            queue.gathering = True
            asyncio.get_running_loop().call_soon(self._gathered, model)
        try:
            return await asyncio.wait_for(future, self.timeout_s)
        except TimeoutError:  # queued behind calls that hang: the same answer a hanging call of its own gets
            raise UpstreamTimeout.of(model) from None

    def _gathered(self, model: str) -> None:
        self._queues[model].gathering = False
        self._dispatch(model)

    def _dispatch(self, model: str) -> None:
        queue = self._queues[model]
        while queue.in_flight < self.max_in_flight and (batch := self._next_batch(queue)) is not None:
            if not batch:
                continue
            queue.in_flight += 1
            self._observe(model, len(batch))
            # In the first request's context, not that of whichever request's end happens to dispatch it: the
            # call's traceparent (and log lines) are the first request's, as its X-Request-ID is.
            task = asyncio.create_task(self._call(model, batch), context=batch[0].context)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _next_batch(self, queue: _Queue) -> list[_Waiting] | None:
        """The next envelope's requests, in arrival order: plain requests first, then the lowest group (none while
        a group is still gathering); [] when only requests whose clients went away were taken; None: nothing."""
        groups = [item.group for item in queue.waiting if item.group < 0 or not queue.gathering]
        if not groups:
            return None
        group, full = min(groups), False
        batch: list[_Waiting] = []
        left: deque[_Waiting] = deque()
        size = 0
        for item in queue.waiting:
            if item.group != group:
                left.append(item)
            elif item.future.done():  # a client that went away is not sent
                continue
            elif full or len(batch) == self.max_items or size + len(item.body) > self.max_bytes:
                full = True  # the rest of the group waits for the next envelope, in its order
                left.append(item)
            else:
                batch.append(item)
                size += len(item.body)
        queue.waiting = left
        return batch

    async def _call(self, model: str, batch: list[_Waiting]) -> None:
        try:
            if len(batch) == 1:
                item = batch[0]
                outcome = await self._send(model, item.body, item.headers["content-type"], item.headers.get("accept"),
                                           item.request_id)
                _settle(item, outcome)
                return
            packed = envelope.pack_requests([(item.headers, item.body) for item in batch])
            answer = await self._send(model, packed, envelope.CONTENT_TYPE, None, batch[0].request_id)
            try:
                replies = envelope.unpack_responses(answer.body)
            except envelope.EnvelopeError as error:
                raise BadModelAnswer(f"model {model!r} answered a batch envelope with something else: {error}") \
                    from None
            if len(replies) != len(batch):
                raise BadModelAnswer(f"model {model!r} answered {len(replies)} of {len(batch)} batched requests")
            for item, (status, content_type, body) in zip(batch, replies, strict=True):
                try:
                    _settle(item, result_of(model, status, body, content_type, answer.seconds, len(batch)))
                except Exception as error:  # this item's own 4xx/5xx, mapped as for a lone request
                    _settle(item, error)
        except Exception as error:  # the whole call failed: every request of it gets the same answer
            for item in batch:
                _settle(item, error)
        finally:
            self._queues[model].in_flight -= 1
            self._dispatch(model)


def _settle(item: _Waiting, outcome: UpstreamResponse | BaseException) -> None:
    if item.future.done():
        return
    if isinstance(outcome, BaseException):
        item.future.set_exception(outcome)
    else:
        item.future.set_result(outcome)
