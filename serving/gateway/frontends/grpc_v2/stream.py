"""`ModelStreamInfer`, Triton's decoupled streaming, over the stream engine the SSE routes use (`TextStream`).

One gRPC call carries any number of requests; each request of a text-generation model opens a stream whose
chunks come back as `ModelInferResponse`s (the `text` output, one BYTES element), interleaved with those of the
call's other requests. With `triton_enable_empty_final_response` (tritonclient's
`enable_empty_final_response=True`) every response says `triton_final_response`, and a last, empty one carries
`finish_reason`, the token counts and the seed, as the SSE `done` event does. A request's error (a bad
parameter, a model that does not stream, the stream bound, a failure midway) is its `error_message`; the call
stays open, as Triton's does. The error's gRPC status name (and Retry-After) ride in its response's parameters.

Limits as over SSE: the stream bound and the idle timeout are the engine's; responses are written one at a time,
each chunk asked for only once the one before went to the transport, and a call whose client takes no response
for the idle timeout is ended (DEADLINE_EXCEEDED). A client that cancels or goes away cancels the call: every
stream it carries is closed, and no further step is sent to the model.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from serving.gateway.core.catalog import ModelEntry
from serving.gateway.core.dataplane import DataPlane
from serving.gateway.core.errors import GatewayError, InvalidInput
from serving.gateway.core.kinds.base import byte_items
from serving.gateway.frontends.grpc_v2 import convert
from serving.gateway.frontends.grpc_v2 import inference_pb2 as pb
from serving.gateway.frontends.grpc_v2.calls import TRAFFIC_KEY, Context, metadata_value
from serving.gateway.frontends.grpc_v2.status import status_code
from serving.gateway.observability.request_ids import current_request_id
from serving.gateway.streaming.engine import Chunk, Finish, TextStream, generation_request, streams
from serving.gateway.v2codec import CodecError, Tensor, encode_raw

log = logging.getLogger("serving.gateway.grpc")
FINAL, EMPTY_FINAL = "triton_final_response", "triton_enable_empty_final_response"
# The model's own names (as ModelInfer takes them) and Triton's max_tokens (its generate extension's name).
PARAMETERS = {"max_new_tokens": "max_new_tokens", "max_tokens": "max_new_tokens", "temperature": "temperature",
              "top_k": "top_k", "seed": "seed"}
_DONE = object()


class StreamCall:
    """One ModelStreamInfer call: a reader that opens a stream per request, the streams' tasks, and the writer
    that sends their responses in the order they come."""

    def __init__(self, plane: DataPlane, context: Context) -> None:
        self.plane, self.context = plane, context
        self.idle_timeout_s = plane.streams.limits.idle_timeout_s
        # One response waiting per stream at most: a stream asks for its next chunk once its put returned.
        self.outbox: asyncio.Queue[Any] = asyncio.Queue(maxsize=1)
        self.tasks: set[asyncio.Task[None]] = set()

    async def run(self, requests: AsyncIterator[bytes]) -> None:
        """Serve the call until the client has half-closed and every stream ended, or the call is cancelled."""
        reader = asyncio.create_task(self._read(requests))
        try:
            while (response := await self.outbox.get()) is not _DONE:
                try:
                    async with asyncio.timeout(self.idle_timeout_s):
                        await self.context.write(response)
                except TimeoutError:
                    await self._cancel(reader)
                    await self.context.abort(grpc.StatusCode.DEADLINE_EXCEEDED,
                                             f"the client took no response for {self.idle_timeout_s:g} s; "
                                             "the call was ended")
            await reader  # its error, if reading failed
        finally:
            await self._cancel(reader)

    async def _cancel(self, reader: asyncio.Task[None]) -> None:
        for task in (reader, *self.tasks):
            task.cancel()
        await asyncio.gather(reader, *self.tasks, return_exceptions=True)

    async def _read(self, requests: AsyncIterator[bytes]) -> None:
        async for raw in requests:
            try:
                message = pb.ModelInferRequest.FromString(raw)
            except DecodeError:
                await self.outbox.put(_error(InvalidInput("the request is not a valid "
                                                          "inference.ModelInferRequest message"), None, None))
                continue
            task = asyncio.create_task(self._serve(message))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        while self.tasks:  # the client sent its last request: let the open streams finish
            await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.outbox.put(_DONE)

    async def _serve(self, message: pb.ModelInferRequest) -> None:
        entry: ModelEntry | None = None
        try:
            # The same admission as ModelInfer's (the Guard checked the key when the call opened).
            entry = self.plane.admit(metadata_value(self.context, "authorization"), message.model_name,
                                     message.model_version or None,
                                     traffic_key=metadata_value(self.context, TRAFFIC_KEY))
            fields, empty_final = stream_fields(entry, message)
            stream = TextStream(self.plane, entry, generation_request(entry, fields), current_request_id())
            await stream.open()
            try:
                async with contextlib.aclosing(stream.events()) as events:
                    async for item in events:
                        response = _response(entry, message.id, item, empty_final)
                        if response is not None:
                            await self.outbox.put(response)
            finally:
                stream.close()
        except (GatewayError, CodecError) as error:
            failure = error if isinstance(error, GatewayError) else InvalidInput(error.message)
            await self.outbox.put(_error(failure, entry, message))
        except Exception:
            log.exception("ModelStreamInfer of %r failed", message.model_name)
            await self.outbox.put(_error(GatewayError("the stream failed; see the gateway log"), entry, message))


def stream_fields(entry: ModelEntry, message: pb.ModelInferRequest) -> tuple[dict[str, Any], bool]:
    """The engine's fields for a request (its one prompt and its parameters), and whether it asked for empty
    final responses; InvalidInput (or CodecError) for anything else."""
    if not streams(entry):
        raise InvalidInput(f"model {entry.name!r} does not stream; only text-generation models do")
    request = convert.infer_request(message)
    prompt = entry.model_kind.the_input(entry.signature, request)
    items = byte_items(prompt)
    if len(items) != 1:
        raise InvalidInput(f"a stream generates one continuation: send one prompt, got {len(items)}")
    unknown_outputs = [o.name for o in request.requested_outputs if o.name != "text"]
    if unknown_outputs:
        raise InvalidInput(f"unknown output(s) {unknown_outputs}; this model streams 'text'")
    given = {**request.parameters, **prompt.parameters}
    empty_final = given.pop(EMPTY_FINAL, False)
    if not isinstance(empty_final, bool):
        raise InvalidInput(f"'{EMPTY_FINAL}' must be a bool")
    unknown = sorted(set(given) - set(PARAMETERS))
    if unknown:
        raise InvalidInput(f"unknown parameters {', '.join(unknown)[:200]}; known: {', '.join(PARAMETERS)}, "
                           f"{EMPTY_FINAL}")
    if "max_tokens" in given and "max_new_tokens" in given:
        raise InvalidInput("send 'max_tokens' or 'max_new_tokens', not both")
    try:
        text = items[0].decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("a prompt must be UTF-8 text") from None
    return {"prompt": text, **{PARAMETERS[k]: v for k, v in given.items()}}, empty_final


def _response(entry: ModelEntry, request_id: str, item: Chunk | Finish,
              empty_final: bool) -> pb.ModelStreamInferResponse | None:
    answer = pb.ModelInferResponse(model_name=entry.name, model_version=entry.version, id=request_id)
    if isinstance(item, Chunk):
        text = Tensor("text", "BYTES", (1,), [item.text.encode()], {}, False)
        answer.outputs.add(name="text", datatype="BYTES", shape=[1])
        answer.raw_output_contents.append(encode_raw(text))
    elif not empty_final:
        return None  # the client did not ask for the empty last response (Triton sends none either)
    else:
        answer.parameters["finish_reason"].string_param = item.reason
        answer.parameters["prompt_tokens"].int64_param = item.prompt_tokens
        answer.parameters["completion_tokens"].int64_param = item.completion_tokens
        answer.parameters["seed"].int64_param = item.seed
    if empty_final:
        answer.parameters[FINAL].bool_param = isinstance(item, Finish)
    return pb.ModelStreamInferResponse(infer_response=answer)


def _error(error: GatewayError, entry: ModelEntry | None,
           message: pb.ModelInferRequest | None) -> pb.ModelStreamInferResponse:
    answer = pb.ModelInferResponse(model_name=entry.name if entry else (message.model_name if message else ""),
                                   model_version=entry.version if entry else "", id=message.id if message else "")
    answer.parameters["error_code"].string_param = status_code(error).name
    retry_after = error.headers.get("Retry-After")
    if retry_after is not None:
        answer.parameters["retry_after"].int64_param = int(retry_after)
    return pb.ModelStreamInferResponse(error_message=error.message, infer_response=answer)
