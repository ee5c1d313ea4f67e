"""The measurement behind docs/streaming.md: TorchServe's own handler-side streaming against the stateless step
protocol, on one real TorchServe serving `char_rnn` twice.

- `char_rnn_ts_stream`: the same model and handler, whose `handle` sends every chunk of one request with
  TorchServe's `send_intermediate_predict_response` (chunked HTTP from the frontend), as TorchServe documents;
- `char_rnn`: the archive as served, driven chunk by chunk with `step`/`resume` (handlers/generation_step.py)
  through the gateway's own client and coalescer, so the steps of concurrent streams share a call.

For each: time to first chunk, time to the whole continuation and tokens/s at 1 and 16 concurrent streams, and
how long a stream abandoned after its first chunk keeps the worker busy (the latency of a one-token request
sent right after the client went away). `python -m loadtests.stream_probe` prints a JSON report.
"""

import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from loadtests.stack import ROOT, settings_for
from serving.archive import builder
from serving.gateway.core.batching import Coalescer
from serving.gateway.core.upstream import TorchServeClient
from serving.modelserver import read_keys, start, stop
from serving.modelserver.keys import KEY_FILE

TOKENS, FIRST, CHUNK, REPEATS = 200, 8, 64, 5
PROMPT = {"prompt": "def ", "temperature": 0.8, "max_new_tokens": TOKENS}

# One class only (TorchServe's loader rule): the kind's handler, streaming each request's chunks itself.
STREAMING_ENTRY = '''"""char_rnn streamed with TorchServe's intermediate responses (loadtests/stream_probe.py)."""

import json

import torch
from ts.handler_utils.utils import send_intermediate_predict_response

from handlers.text_generation import TextGenerationHandler
from handlers.wire import decode_row


class Handler(TextGenerationHandler):
    """One request at a time: each chunk goes out as it is made; the last one is the return value."""

    def handle(self, data, context):
        fields = decode_row(data[0], {"content-type": "application/json"}).fields
        left, size, chunk = int(fields.pop("max_new_tokens")), int(fields.pop("chunk")), None
        while left > 0:
            request = {**fields, "step": min(size, left)}
            if chunk is not None:
                request = {k: v for k, v in request.items() if k not in ("prompt", "seed")}
                request["resume"] = chunk["resume"]
            with torch.inference_mode():
                chunk = self.predict([self.parse(decode_row({"body": request}, {}))])[0].body
            left, size = left - request["step"], CHUNK_TOKENS
            if left > 0:
                send_intermediate_predict_response([json.dumps({"text": chunk["text"]})], context.request_ids,
                                                   "Intermediate Prediction success", 200, context)
        return [json.dumps({"text": chunk["text"]})]
'''.replace("CHUNK_TOKENS", str(CHUNK))


def build_store(store: Path) -> None:
    """`char_rnn` as archived, and a copy under another name with the streaming entry module."""
    artifact = ROOT / "artifacts" / "char_rnn"
    builder.build(artifact, store, "cpu")
    copy = store.parent / "char_rnn_ts_stream"
    copy.mkdir()
    for item in artifact.iterdir():
        (copy / item.name).write_bytes(item.read_bytes())
    signature = json.loads((copy / "signature.json").read_text())
    (copy / "signature.json").write_text(json.dumps({**signature, "name": "char_rnn_ts_stream"}))
    original = builder.entry_module
    builder.entry_module = lambda kind: STREAMING_ENTRY
    try:
        builder.build(copy, store, "cpu")
    finally:
        builder.entry_module = original


async def ts_stream(http: httpx.AsyncClient, seed: int, abandon: bool = False) -> tuple[float, float]:
    """(time to first chunk, time to the end) of one TorchServe-streamed continuation."""
    start_t, first = time.perf_counter(), 0.0
    async with http.stream("POST", "/predictions/char_rnn_ts_stream",
                           json={**PROMPT, "seed": seed, "chunk": FIRST}) as response:
        async for _ in response.aiter_raw():
            first = first or time.perf_counter() - start_t
            if abandon:
                break
    return first, time.perf_counter() - start_t


async def step_stream(batcher: Coalescer, seed: int, abandon: bool = False) -> tuple[float, float]:
    """(time to first chunk, time to the end) of one continuation driven chunk by chunk."""
    start_t, first, left, size = time.perf_counter(), 0.0, TOKENS, FIRST
    body: dict[str, Any] = {**PROMPT, "seed": seed}
    del body["max_new_tokens"]
    while left > 0:
        step = min(size, left)
        answer = json.loads((await batcher.predict("char_rnn", json.dumps({**body, "step": step}).encode(),
                                                   "application/json", None, None)).body)
        first = first or time.perf_counter() - start_t
        if abandon:
            break
        body = {"temperature": PROMPT["temperature"], "resume": answer["resume"]}
        left, size = left - step, CHUNK
    return first, time.perf_counter() - start_t


async def whole(batcher: Coalescer, seed: int) -> tuple[float, float]:
    """The non-streamed baseline: one request for the whole continuation (first token = last)."""
    start_t = time.perf_counter()
    await batcher.predict("char_rnn", json.dumps({**PROMPT, "seed": seed}).encode(), "application/json", None, None)
    return (elapsed := time.perf_counter() - start_t), elapsed


async def one_token(batcher: Coalescer, model: str) -> float:
    """How long a one-token request waits: the worker's leftover work plus its own."""
    start_t = time.perf_counter()
    body = {"prompt": "a", "max_new_tokens": 1, "seed": 1, **({"chunk": 1} if model != "char_rnn" else {})}
    await batcher.predict(model, json.dumps(body).encode(), "application/json", None, None)
    return time.perf_counter() - start_t


def summary(runs: list[tuple[float, float]], streams: int) -> dict[str, float]:
    """Medians over repeats: first chunk, whole answer, tokens/s over all streams."""
    return {"first_ms": round(statistics.median(f for f, _ in runs) * 1e3, 2),
            "whole_ms": round(statistics.median(t for _, t in runs) * 1e3, 2),
            "tokens_per_s": round(streams * TOKENS / statistics.median(t for _, t in runs), 1)}


async def measure(server: Any) -> dict[str, Any]:
    """Every figure, the three ways interleaved (each repeat runs all of them in turn)."""
    upstream = TorchServeClient(server.inference_url, server.management_url, server.ts_home / KEY_FILE, 60, 64)
    batcher = Coalescer(upstream.predict, 32, 2, 4 * 2**20, 60)
    headers = read_keys(server.ts_home).inference_headers()
    report: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=server.inference_url, headers=headers, timeout=60) as http:
        ways = {"torchserve_stream": lambda s: ts_stream(http, s), "step_api": lambda s: step_stream(batcher, s),
                "whole": lambda s: whole(batcher, s)}
        for streams in (1, 16):
            runs: dict[str, list[tuple[float, float]]] = {name: [] for name in ways}
            for repeat in range(REPEATS + 1):
                for name, way in ways.items():
                    results = await asyncio.gather(*(way(repeat * 100 + i) for i in range(streams)))
                    if repeat:  # the first round warms up
                        runs[name].append((statistics.median(f for f, _ in results), max(t for _, t in results)))
            report[f"{streams}_streams"] = {name: summary(r, streams) for name, r in runs.items()}
        abandoned: dict[str, list[float]] = {"torchserve_stream": [], "step_api": [], "idle": []}
        for _ in range(REPEATS):
            await ts_stream(http, 1, abandon=True)
            abandoned["torchserve_stream"].append(await one_token(batcher, "char_rnn_ts_stream"))
            await step_stream(batcher, 1, abandon=True)
            abandoned["step_api"].append(await one_token(batcher, "char_rnn"))
            await asyncio.sleep(0.3)
            abandoned["idle"].append(await one_token(batcher, "char_rnn"))
        report["next_request_after_abandon_ms"] = {k: round(statistics.median(v) * 1e3, 2)
                                                   for k, v in abandoned.items()}
    await upstream.aclose()
    return report


def main() -> int:
    """Build the store, start TorchServe, measure, print the report, stop."""
    with tempfile.TemporaryDirectory(prefix="stream-probe-") as tmp:
        store = Path(tmp) / "store"
        build_store(store)
        server = settings_for(store, Path(tmp) / "home", startup_timeout_s=300)
        start(server)
        try:
            report = asyncio.run(measure(server))
        finally:
            stop(server)
    print(json.dumps({"tokens": TOKENS, "first_chunk": FIRST, "chunk": CHUNK, "repeats": REPEATS, **report}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
