"""ModelStreamInfer without a server: the call's handler over a scripted model (the stream engine's own tests'),
a scripted servicer context and request stream. Chunks and Triton's final-response flag, errors per request in
`error_message` with the stream left open, the stream bound, cancellation, a slow reader and bad bytes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from serving.gateway.core.admission import Admission, ApiKeys
from serving.gateway.core.catalog import Catalog, ModelEntry
from serving.gateway.core.dataplane import DataPlane
from serving.gateway.frontends.grpc_v2 import inference_pb2 as pb
from serving.gateway.frontends.grpc_v2.stream import StreamCall
from serving.gateway.observability import GatewayMetrics
from serving.gateway.settings import GatewaySettings
from serving.gateway.streaming.limits import StreamHub, StreamLimits, StreamSlots
from serving.gateway.streaming.metrics import StreamMetrics
from tests.unit.gateway.lifecycles import plain_lifecycle
from tests.unit.gateway.test_streaming_engine import ENTRY, ScriptedModel

TABULAR = ModelEntry("t", "regression", "1", {"inputs": [{"shape": [-1, 3]}]}, {}, "")
Parameter = bool | int | float | str


def _plane(model: ScriptedModel, tmp_path: Path, max_streams: int = 4, idle: float = 5.0) -> DataPlane:
    metrics = GatewayMetrics(known_models={"m", "t"})
    hub = StreamHub(StreamLimits(max_streams, idle, 8, 64, 16), StreamSlots(max_streams),
                    StreamMetrics(metrics.registry, metrics.model_label))
    catalog = Catalog([ENTRY, TABULAR])
    return DataPlane(GatewaySettings(_env_file=None, gateway_model_store=tmp_path), catalog, None,
                     ApiKeys(()), Admission(16), metrics, model,  # type: ignore[arg-type]
                     plain_lifecycle(catalog, metrics), hub)


def _request(model: str = "m", prompts: tuple[bytes, ...] = (b"hi",), input_name: str = "prompt",
             request_id: str = "r1", **parameters: Parameter) -> bytes:
    request = pb.ModelInferRequest(model_name=model, id=request_id)
    request.inputs.add(name=input_name, datatype="BYTES", shape=[len(prompts)])
    request.raw_input_contents.append(b"".join(len(p).to_bytes(4, "little") + p for p in prompts))
    for key, value in parameters.items():
        field = {bool: "bool_param", int: "int64_param", float: "double_param", str: "string_param"}[type(value)]
        setattr(request.parameters[key], field, value)
    return request.SerializeToString()


class ScriptedContext:
    """Records what the call writes; its writes block from `blocks_after` on (a reader that stopped reading)."""

    def __init__(self, blocks_after: int = 1_000_000, metadata: tuple[tuple[str, str], ...] = ()) -> None:
        self.written: list[pb.ModelStreamInferResponse] = []
        self.metadata = metadata
        self.aborted: tuple[grpc.StatusCode, str] | None = None
        self.blocks_after = blocks_after

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self.metadata

    async def write(self, message: pb.ModelStreamInferResponse) -> None:
        if len(self.written) >= self.blocks_after:
            await asyncio.Event().wait()
        self.written.append(message)

    async def abort(self, code: grpc.StatusCode, details: str, trailing_metadata: Any = ()) -> None:
        self.aborted = (code, details)
        raise grpc.aio.AbortError("aborted")


async def _requests(raws: list[bytes], hold: asyncio.Event | None = None) -> AsyncIterator[bytes]:
    for raw in raws:
        yield raw
    if hold is not None:  # the client keeps the call open
        await hold.wait()


def _call(plane: DataPlane, raws: list[bytes], context: ScriptedContext | None = None) -> ScriptedContext:
    context = context or ScriptedContext()
    asyncio.run(StreamCall(plane, context).run(_requests(raws)))  # type: ignore[arg-type]
    return context


def _texts(response: pb.ModelStreamInferResponse) -> list[bytes]:
    raw = response.infer_response.raw_output_contents[0]
    assert int.from_bytes(raw[:4], "little") == len(raw) - 4
    return [raw[4:]]


def _parameters(response: pb.ModelStreamInferResponse) -> dict[str, Any]:
    return {k: getattr(v, v.WhichOneof("parameter_choice")) for k, v in response.infer_response.parameters.items()}


def _sample(plane: DataPlane, name: str, **labels: str) -> float:
    return plane.metrics.registry.get_sample_value(name, labels) or 0.0


def test_chunks_then_an_empty_final_response_when_the_client_asks_for_it(tmp_path: Path) -> None:
    model = ScriptedModel()
    plane = _plane(model, tmp_path)
    written = _call(plane, [_request(max_tokens=80, seed=9, temperature=0.5,
                                     triton_enable_empty_final_response=True)]).written
    assert model.bodies[0] == {"prompt": "hi", "temperature": 0.5, "seed": 9, "step": 8}
    assert [_texts(r) for r in written[:3]] == [[b"x" * 8], [b"x" * 64], [b"x" * 8]]
    for response in written[:3]:
        answer = response.infer_response
        assert (response.error_message, answer.model_name, answer.model_version, answer.id) == ("", "m", "1", "r1")
        assert [(o.name, o.datatype, list(o.shape)) for o in answer.outputs] == [("text", "BYTES", [1])]
        assert _parameters(response) == {"triton_final_response": False}
    assert len(written) == 4
    assert list(written[3].infer_response.outputs) == []
    assert _parameters(written[3]) == {"triton_final_response": True, "finish_reason": "length",
                                       "prompt_tokens": 2, "completion_tokens": 80, "seed": 5}
    assert _sample(plane, "gateway_streams_total", model="m", outcome="completed") == 1


def test_without_the_flag_only_the_chunks_come_back(tmp_path: Path) -> None:
    written = _call(_plane(ScriptedModel(), tmp_path), [_request(max_new_tokens=10)]).written
    assert [_texts(r) for r in written] == [[b"x" * 8], [b"x" * 2]]
    assert [_parameters(r) for r in written] == [{}, {}]


@pytest.mark.parametrize(("raw", "message", "code"), [
    (_request(beam=2), "unknown parameters beam; known: max_new_tokens, max_tokens, temperature, top_k, seed, "
     "triton_enable_empty_final_response", "INVALID_ARGUMENT"),
    (_request(max_tokens=300), "'max_new_tokens' must be an integer between 1 and 100, got 300", "INVALID_ARGUMENT"),
    (_request(max_tokens=4, max_new_tokens=4), "send 'max_tokens' or 'max_new_tokens', not both", "INVALID_ARGUMENT"),
    (_request(triton_enable_empty_final_response="yes"), "'triton_enable_empty_final_response' must be a bool",
     "INVALID_ARGUMENT"),
    (_request(prompts=(b"a", b"b")), "a stream generates one continuation: send one prompt, got 2",
     "INVALID_ARGUMENT"),
    (_request(input_name="text_input"), "this model takes one input named 'prompt' (BYTES [-1]); got ['text_input']",
     "INVALID_ARGUMENT"),
    (_request(prompts=(b"\xff",)), "a prompt must be UTF-8 text", "INVALID_ARGUMENT"),
    (_request(model="t"), "model 't' does not stream; only text-generation models do", "INVALID_ARGUMENT"),
    (_request(model="nope"), "model 'nope' not found", "NOT_FOUND"),
], ids=["unknown-parameter", "too-many-tokens", "both-names", "flag-not-bool", "two-prompts", "triton-input-name",
        "not-utf8", "model-does-not-stream", "unknown-model"])
def test_a_bad_request_is_its_own_error_and_the_stream_goes_on(tmp_path: Path, raw: bytes, message: str,
                                                               code: str) -> None:
    model = ScriptedModel()
    written = _call(_plane(model, tmp_path), [raw, _request(request_id="r2", max_tokens=8)]).written
    assert (written[0].error_message, _parameters(written[0])) == (message, {"error_code": code})
    assert written[0].infer_response.id == "r1"
    assert (written[1].error_message, written[1].infer_response.id, _texts(written[1])) == ("", "r2", [b"x" * 8])
    assert len(model.bodies) == 1  # the bad request never reached the model


def test_bytes_that_are_no_request_are_an_error_in_the_stream(tmp_path: Path) -> None:
    written = _call(_plane(ScriptedModel(), tmp_path), [b"\xff", _request(max_tokens=8)]).written
    assert written[0].error_message == "the request is not a valid inference.ModelInferRequest message"
    assert _texts(written[1]) == [b"x" * 8]


def test_a_failure_midway_is_the_requests_error(tmp_path: Path) -> None:
    plane = _plane(ScriptedModel(fail_at=2), tmp_path)
    written = _call(plane, [_request(max_tokens=80)]).written
    assert _texts(written[0]) == [b"x" * 8]
    assert (written[1].error_message, _parameters(written[1])) == ("model 'm' failed: Worker died.",
                                                                   {"error_code": "UNAVAILABLE"})
    assert (plane.streams.slots.open, _sample(plane, "gateway_streams_total", model="m", outcome="failed")) == (0, 1)


async def _until(condition: Any) -> None:
    while not condition():
        await asyncio.sleep(0.01)


def test_a_stream_over_the_bound_is_resource_exhausted_and_cancelling_the_call_frees_every_slot(
        tmp_path: Path) -> None:
    model = ScriptedModel(hang_at=2)
    plane = _plane(model, tmp_path, max_streams=1)
    context = ScriptedContext()

    async def scenario() -> None:
        call = asyncio.create_task(StreamCall(plane, context).run(  # type: ignore[arg-type]
            _requests([_request(max_tokens=80), _request(request_id="r2")], hold=asyncio.Event())))
        await _until(lambda: len(context.written) == 2 and len(model.bodies) == 2)
        call.cancel()  # the client cancels, or goes away
        with pytest.raises(asyncio.CancelledError):
            await call

    asyncio.run(scenario())
    first, refused = context.written
    assert _texts(first) == [b"x" * 8]
    assert (refused.error_message, refused.infer_response.id, _parameters(refused)) == (
        "1 streams are open, the most the gateway allows; retry shortly", "r2",
        {"error_code": "RESOURCE_EXHAUSTED", "retry_after": 1})
    assert len(model.bodies) == 2  # no step after the cancel
    assert (plane.streams.slots.open, _sample(plane, "gateway_streams_active")) == (0, 0)
    assert _sample(plane, "gateway_streams_total", model="m", outcome="cancelled") == 1


def test_a_reader_that_takes_nothing_ends_the_call_after_the_idle_timeout(tmp_path: Path) -> None:
    model = ScriptedModel()
    plane = _plane(model, tmp_path, idle=0.05)
    context = ScriptedContext(blocks_after=1)  # the second write never completes

    async def scenario() -> None:
        with pytest.raises(grpc.aio.AbortError):
            await StreamCall(plane, context).run(  # type: ignore[arg-type]
                _requests([_request(max_tokens=100)], hold=asyncio.Event()))

    asyncio.run(scenario())
    assert context.aborted == (grpc.StatusCode.DEADLINE_EXCEEDED,
                               "the client took no response for 0.05 s; the call was ended")
    # One chunk written, one being written, one in the outbox: the gateway holds no more than that. (Three
    # chunks are all of this stream's 100 tokens, so the engine counts it completed.)
    assert len(context.written) == 1
    assert len(model.bodies) == 3
    assert (plane.streams.slots.open, _sample(plane, "gateway_streams_active")) == (0, 0)
