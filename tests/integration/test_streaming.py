"""Streaming generation against the real stack: SSE on v1 and on Triton's generate_stream, read by an SSE client
library and by `curl -N`; the streamed text equals the whole answer for a seed; a client that leaves stops the
generation; limits and bad input get clear errors; the stream metrics count what happened."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_sse import connect_sse
from prometheus_client.parser import text_string_to_metric_families

from serving.modelserver import ModelServerSettings
from tests.error_bodies import error_of
from tests.integration.conftest import AUTH, KEY
from tests.servers import ROOT, gateway_process

PREDICT = "/v1/models/char_rnn/predict"
BODY = {"prompt": "def ", "seed": 42, "max_new_tokens": 200, "temperature": 0.9, "top_k": 20}


def _sse(api: httpx.Client, path: str, body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    with connect_sse(api, "POST", path, json=body) as source:
        assert source.response.status_code == 200
        assert source.response.headers["content-type"] == "text/event-stream; charset=utf-8"
        return [(sse.event, sse.json()) for sse in source.iter_sse()]


def _metric(api: httpx.Client, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(api.get("/metrics").text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


def test_v1_stream_is_the_whole_answer_in_chunks(api: httpx.Client) -> None:
    whole = api.post(PREDICT, json=BODY).json()
    events = _sse(api, PREDICT, {**BODY, "stream": True})
    chunks = [data["text"] for name, data in events if name == "message"]
    assert [len(c) for c in chunks] == [4, 196]  # a stream alone: a small first chunk, then the rest in one
    assert "".join(chunks) == whole["text"]
    assert events[-1] == ("done", {"finish_reason": "length", "prompt_tokens": 4, "completion_tokens": 200,
                                   "seed": 42})
    assert len(events) == len(chunks) + 1


def test_stream_false_is_the_unstreamed_answer(api: httpx.Client) -> None:
    assert api.post(PREDICT, json={**BODY, "stream": False}).json() == api.post(PREDICT, json=BODY).json()


def test_triton_generate_and_generate_stream_give_the_v1_text(api: httpx.Client) -> None:
    text = api.post(PREDICT, json=BODY).json()["text"]
    request = {"id": "r1", "text_input": "def ",
               "parameters": {"max_tokens": 200, "seed": 42, "temperature": 0.9, "top_k": 20}}
    answer = api.post("/v2/models/char_rnn/generate", json=request)
    assert answer.json() == {"id": "r1", "model_name": "char_rnn", "model_version": "1.0", "text_output": text}
    events = _sse(api, "/v2/models/char_rnn/versions/1.0/generate_stream", request)
    assert all(name == "message" for name, _ in events)
    assert "".join(data["text_output"] for _, data in events) == text
    assert events[0][1] == {"id": "r1", "model_name": "char_rnn", "model_version": "1.0", "text_output": text[:4]}
    assert events[-1][1] == {"id": "r1", "model_name": "char_rnn", "model_version": "1.0", "text_output": "",
                             "finish_reason": "length", "prompt_tokens": 4, "completion_tokens": 200}


def _readme_curl() -> str:
    """The README's `curl -N` command, continuation lines joined."""
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("curl -N"))
    command = [lines[start]]
    while command[-1].endswith("\\"):
        command.append(lines[start + len(command)])
    return " ".join(part.removesuffix("\\").strip() for part in command)


def test_the_readme_curl_n_streams_the_events(api: httpx.Client, gateway: str) -> None:
    command = _readme_curl().replace("http://127.0.0.1:8000", gateway).replace(
        "curl -N", f"curl -N -sS -H 'Authorization: Bearer {KEY}'", 1)
    out = subprocess.run(["bash", "-c", command], capture_output=True, text=True, check=True, timeout=60).stdout
    blocks = out.strip().split("\n\n")
    assert [b.startswith("data: ") for b in blocks] == [True] * 2 + [False]
    text = "".join(json.loads(b.removeprefix("data: "))["text"] for b in blocks[:-1])
    assert text == api.post(PREDICT, json=BODY | {"temperature": 0.8, "top_k": 0}).json()["text"]
    assert json.loads(blocks[0].removeprefix("data: ")) == {"text": text[:4]}
    assert blocks[-1] == ('event: done\ndata: {"finish_reason":"length","prompt_tokens":4,'
                          '"completion_tokens":200,"seed":42}')


def test_a_huge_prompt_is_refused_before_any_event(api: httpx.Client) -> None:
    body = json.dumps({**BODY, "stream": True, "prompt": "x" * (9 * 1024 * 1024)}).encode()
    answer = api.post(PREDICT, content=body, headers={"Content-Type": "application/json"})
    assert error_of(answer) == (413, f"request body of {len(body)} bytes is over the limit of {8 * 1024 * 1024} bytes")


@pytest.fixture(scope="module")
def one_stream_gateway(model_store: Path, server: ModelServerSettings, tmp_path_factory: pytest.TempPathFactory
                       ) -> Iterator[str]:
    """A second gateway in front of the session's TorchServe that allows one stream at a time, and makes it one
    token per call to TorchServe, so that a 256-token stream stays open for 256 round trips."""
    log = tmp_path_factory.mktemp("one-stream") / "gateway.log"
    with gateway_process(model_store, server, log, GATEWAY_API_KEYS=KEY, GATEWAY_STREAM_MAX_STREAMS="1",
                         GATEWAY_STREAM_FIRST_TOKENS="1", GATEWAY_STREAM_CHUNK_TOKENS="1") as (url, _):
        yield url


def test_streams_over_the_bound_get_a_fast_429(one_stream_gateway: str) -> None:
    with httpx.Client(base_url=one_stream_gateway, headers=AUTH, timeout=60) as http:
        with http.stream("POST", PREDICT, json={**BODY, "max_new_tokens": 256, "stream": True}) as first:
            lines = first.iter_lines()
            next(lines)  # the first stream is open
            refused = http.post(PREDICT, json={**BODY, "stream": True})
            assert (refused.status_code, refused.headers["retry-after"]) == (429, "1")
            assert error_of(refused) == (429, "1 streams are open, the most the gateway allows; retry shortly")
            assert http.post(PREDICT, json=BODY).status_code == 200  # unstreamed requests are not bounded by it
            assert list(lines)[-2].startswith("data: {\"finish_reason\"")  # it was open throughout
        assert _sse(http, PREDICT, {**BODY, "stream": True})[-1][0] == "done"  # the slot came back


@pytest.fixture(scope="module")
def chunked_gateway(model_store: Path, server: ModelServerSettings, tmp_path_factory: pytest.TempPathFactory
                    ) -> Iterator[str]:
    """A gateway that makes a stream alone in chunks of 128 tokens (the default makes the rest in one)."""
    log = tmp_path_factory.mktemp("chunked") / "gateway.log"
    with gateway_process(model_store, server, log, GATEWAY_API_KEYS=KEY, GATEWAY_STREAM_CHUNK_TOKENS="128") as (url, _):
        yield url


def test_a_client_that_leaves_stops_the_generation(chunked_gateway: str) -> None:
    """The stream asks for 256 tokens (three chunks: 4, 128, 124); the client leaves after the first. At most the
    chunk in flight is made after that: the model is sent two steps, not three, and answers the next client."""
    with httpx.Client(base_url=chunked_gateway, headers=AUTH, timeout=60) as api:
        steps_before = _metric(api, "gateway_batch_requests_sum", model="char_rnn")
        cancelled = _metric(api, "gateway_streams_total", model="char_rnn", outcome="cancelled")

        async def leave_after_the_first_chunk() -> None:
            async with httpx.AsyncClient(base_url=chunked_gateway, headers=AUTH, timeout=60) as http, \
                    http.stream("POST", PREDICT, json={**BODY, "max_new_tokens": 256, "stream": True}) as response:
                async for line in response.aiter_lines():
                    if line.startswith("data: "):
                        break
            await asyncio.sleep(0.5)  # the gateway sees the disconnect; any step in flight finishes

        asyncio.run(leave_after_the_first_chunk())
        assert _metric(api, "gateway_streams_total", model="char_rnn", outcome="cancelled") == cancelled + 1
        assert _metric(api, "gateway_streams_active") == 0
        assert _metric(api, "gateway_batch_requests_sum", model="char_rnn") - steps_before <= 2
        assert api.post(PREDICT, json={"prompt": "a", "max_new_tokens": 1, "seed": 1}).status_code == 200


def test_a_stream_is_counted_in_the_stream_metrics(api: httpx.Client) -> None:
    names = ("gateway_stream_time_to_first_token_seconds_count", "gateway_stream_inter_token_seconds_count",
             "gateway_stream_tokens_per_second_count", "gateway_stream_tokens_total")
    before = [_metric(api, name, model="char_rnn") for name in names]
    completed = _metric(api, "gateway_streams_total", model="char_rnn", outcome="completed")
    _sse(api, PREDICT, {**BODY, "stream": True})
    after = [_metric(api, name, model="char_rnn") for name in names]
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1, 1, 200]
    assert _metric(api, "gateway_streams_total", model="char_rnn", outcome="completed") == completed + 1
    assert _metric(api, "gateway_streams_active") == 0


@pytest.mark.parametrize(("path", "body", "status", "message"), [
    (PREDICT, {**BODY, "stream": True, "max_new_tokens": 0}, 400,
     "'max_new_tokens' must be an integer between 1 and 256, got 0"),
    (PREDICT, {**BODY, "stream": True, "max_new_tokens": 10_000}, 400,
     "'max_new_tokens' must be an integer between 1 and 256, got 10000"),
    (PREDICT, {**BODY, "stream": True, "temperature": "hot"}, 400, "'temperature' must be a number, got 'hot'"),
    (PREDICT, {**BODY, "stream": "yes"}, 400, "'stream' must be true or false"),
    (PREDICT, {**BODY, "stream": True, "prompt": "x" * 3000}, 400, "'prompt' has 3000 characters; at most 2000"),
    ("/v1/models/mlp_classifier/predict", {"features": [1.0] * 13, "stream": True}, 400,
     "model 'mlp_classifier' does not stream; only text-generation models do"),
    ("/v2/models/mlp_classifier/generate_stream", {"text_input": "a"}, 400,
     "model 'mlp_classifier' does not generate text; only text-generation models do"),
    ("/v2/models/char_rnn/generate_stream", {"text_input": "a", "parameters": {"beam": 2}}, 400,
     "unknown parameters beam; known: max_tokens, temperature, top_k, seed"),
    ("/v2/models/char_rnn/generate_stream", {"parameters": {}}, 400, "'text_input' must be a string"),
    ("/v2/models/char_rnn/generate", {"text_input": "a", "parameters": {"stream": True}}, 400,
     "'stream' is true here; use /generate_stream for that"),
    ("/v2/models/char_rnn/generate_stream", {"text_input": "a", "max_tokens": 257}, 400,
     "'max_new_tokens' must be an integer between 1 and 256, got 257"),
])
def test_bad_stream_requests_get_a_clear_4xx(api: httpx.Client, path: str, body: dict[str, Any], status: int,
                                             message: str) -> None:
    answer = api.post(path, json=body)
    assert error_of(answer) == (status, message)
    assert _metric(api, "gateway_streams_active") == 0
