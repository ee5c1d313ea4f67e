"""ModelStreamInfer against the real stack, driven by tritonclient.grpc's own streaming (`start_stream`,
`async_stream_infer` with empty final responses, `stop_stream`) in a process of its own (grpc_clients.py): the
streamed text equals the unstreamed text for a seed, requests share one stream, a cancelled stream stops the
generation, the stream bound, and bad requests each get their error while the stream goes on."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from serving.modelserver import ModelServerSettings
from tests.integration.conftest import KEY
from tests.integration.test_streaming import BODY, PREDICT, _metric
from tests.servers import ROOT, free_ports, gateway_process

TRITON_PARAMETERS = {"max_tokens": 200, "seed": 42, "temperature": 0.9, "top_k": 20}


def _stream(target: str, spec: dict[str, Any], key: str = KEY) -> list[dict[str, Any]]:
    out = subprocess.run([sys.executable, "-m", "tests.integration.grpc_clients", "stream", target, key,
                          json.dumps(spec)], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    responses: list[dict[str, Any]] = json.loads(out.stdout)
    return responses


def _request(request_id: str, **parameters: Any) -> dict[str, Any]:
    return {"model": "char_rnn", "prompt": "def ", "id": request_id, "parameters": parameters}


def _text(responses: list[dict[str, Any]], request_id: str) -> str:
    return "".join(r["text"] for r in responses if r.get("id") == request_id and "text" in r)


def test_the_streamed_text_is_the_unstreamed_text_for_the_seed(api: httpx.Client, grpc_target: str) -> None:
    whole = api.post(PREDICT, json=BODY).json()["text"]
    responses = _stream(grpc_target, {"requests": [_request("g1", **TRITON_PARAMETERS)]})
    assert [len(r["text"]) for r in responses[:-1]] == [4, 196]  # a stream alone: as over SSE
    assert _text(responses, "g1") == whole
    assert responses[-1] == {"id": "g1", "final": {"finish_reason": "length", "prompt_tokens": 4,
                                                   "completion_tokens": 200, "seed": 42}}
    assert _metric(api, "gateway_streams_active") == 0


def test_requests_on_one_stream_are_answered_side_by_side(api: httpx.Client, grpc_target: str) -> None:
    seeds = {"a": 1, "b": 2}
    responses = _stream(grpc_target, {"requests": [_request(name, max_new_tokens=150, seed=seed)
                                                   for name, seed in seeds.items()]})
    for name, seed in seeds.items():
        unstreamed = api.post(PREDICT, json={"prompt": "def ", "max_new_tokens": 150, "seed": seed}).json()["text"]
        assert _text(responses, name) == unstreamed
        assert [r["final"]["completion_tokens"] for r in responses if r.get("id") == name and "final" in r] == [150]


def test_a_cancelled_stream_stops_the_generation(api: httpx.Client, grpc_target: str) -> None:
    """As the SSE test: 256 tokens are three chunks (4, 128, 124); the client cancels after the first. At most
    the chunk in flight is made after that: the model is sent two steps, not three."""
    steps_before = _metric(api, "gateway_batch_requests_sum", model="char_rnn")
    cancelled = _metric(api, "gateway_streams_total", model="char_rnn", outcome="cancelled")
    responses = _stream(grpc_target, {"requests": [_request("c1", max_tokens=256, seed=3)], "cancel_after": 1})
    assert [len(r["text"]) for r in responses] == [4]
    asyncio.run(asyncio.sleep(0.5))  # the gateway sees the cancel; any step in flight finishes
    assert _metric(api, "gateway_streams_total", model="char_rnn", outcome="cancelled") == cancelled + 1
    assert _metric(api, "gateway_streams_active") == 0
    assert _metric(api, "gateway_batch_requests_sum", model="char_rnn") - steps_before <= 2
    assert api.post(PREDICT, json={"prompt": "a", "max_new_tokens": 1, "seed": 1}).status_code == 200


def test_bad_requests_get_their_error_and_the_stream_goes_on(api: httpx.Client, grpc_target: str) -> None:
    requests = [_request("e1", beam=2), {**_request("e2"), "model": "mlp_classifier"},
                _request("e3", max_tokens=0), _request("e4", temperature="hot"),
                {**_request("e5"), "input": "text_input"}, _request("ok", max_tokens=8, seed=1)]
    responses = _stream(grpc_target, {"requests": requests})
    # sorted: each error comes when its request is read, the handler's after a call to the model
    assert sorted(r["error"] for r in responses if "error" in r) == sorted([
        "unknown parameters beam; known: max_new_tokens, max_tokens, temperature, top_k, seed, "
        "triton_enable_empty_final_response",
        "model 'mlp_classifier' does not stream; only text-generation models do",
        "'max_new_tokens' must be an integer between 1 and 256, got 0",
        "this model takes one input named 'prompt' (BYTES [-1]); got ['text_input']",
        "'temperature' must be a number, got 'hot'",  # the handler's check, on the first step
    ])
    assert _text(responses, "ok") == api.post(PREDICT, json={"prompt": "def ", "max_new_tokens": 8,
                                                             "seed": 1}).json()["text"]
    assert _metric(api, "gateway_streams_active") == 0


def test_a_wrong_key_ends_the_stream_unauthenticated(grpc_target: str) -> None:
    responses = _stream(grpc_target, {"requests": [_request("k1")]}, key="wrong-key")
    assert responses == [{"error": "[StatusCode.UNAUTHENTICATED] invalid API key"}]


@pytest.fixture(scope="module")
def one_stream_grpc(model_store: Path, server: ModelServerSettings, tmp_path_factory: pytest.TempPathFactory
                    ) -> Iterator[str]:
    """A second gateway that allows one stream at a time, one token per call to TorchServe (a 256-token stream
    stays open for 256 round trips); yields its gRPC target."""
    log = tmp_path_factory.mktemp("one-grpc-stream") / "gateway.log"
    port = free_ports(1)[0]
    with gateway_process(model_store, server, log, GATEWAY_API_KEYS=KEY, GATEWAY_STREAM_MAX_STREAMS="1",
                         GATEWAY_STREAM_FIRST_TOKENS="1", GATEWAY_STREAM_CHUNK_TOKENS="1",
                         GATEWAY_GRPC_PORT=str(port)):
        yield f"127.0.0.1:{port}"


def test_a_stream_over_the_bound_is_refused_and_the_open_one_goes_on(one_stream_grpc: str) -> None:
    responses = _stream(one_stream_grpc, {"requests": [_request("first", max_tokens=256, seed=1),
                                                       _request("second", max_tokens=8)]})
    assert [r for r in responses if "error" in r] == [
        {"error": "1 streams are open, the most the gateway allows; retry shortly"}]
    assert len(_text(responses, "first")) == 256
    assert responses[-1]["final"]["completion_tokens"] == 256
    # the slot came back: a new stream is served
    assert len(_text(_stream(one_stream_grpc, {"requests": [_request("third", max_tokens=4)]}), "third")) == 4
