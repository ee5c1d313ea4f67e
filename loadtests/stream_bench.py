"""The streaming part of `make bench`: `char_rnn` streamed over SSE through the gateway at 1, 4 and 16 concurrent
streams, against the same continuations answered whole (the non-streamed, coalesced path), interleaved.

Each round opens N streams at once (200 tokens each, seeds differing) and reads them to the end, then sends the
same N requests unstreamed; with a gRPC target, then the same N streams over gRPC's ModelStreamInfer (one call
each, as tritonclient's `start_stream` makes). Time to first token is per stream, from the request to its first
`data:` event (or first response); tokens/s is N × 200 over the round's wall time. Figures are medians over the
rounds (percentiles over every stream of every round)."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from dataclasses import dataclass
from typing import Any, TypeAlias

import grpc
import httpx

from serving.gateway.frontends.grpc_v2 import inference_pb2 as pb

MODEL, TOKENS, PROMPT = "char_rnn", 200, "def "
CONCURRENCY = (1, 4, 16)
BEGIN, END = "<!-- stream-bench:begin -->", "<!-- stream-bench:end -->"


@dataclass(frozen=True)
class StreamFigures:
    """One concurrency level."""

    streams: int
    ttft_p50_ms: float
    ttft_p99_ms: float
    stream_whole_ms: float  # a stream, request to last event (p50)
    whole_answer_ms: float  # the unstreamed request (p50)
    streamed_tokens_per_s: float
    whole_tokens_per_s: float
    grpc_ttft_p50_ms: float | None = None  # ModelStreamInfer, when a gRPC target was given
    grpc_tokens_per_s: float | None = None


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


async def _stream(http: httpx.AsyncClient, seed: int) -> tuple[float, float]:
    start, first = time.perf_counter(), 0.0
    body = {"prompt": PROMPT, "max_new_tokens": TOKENS, "seed": seed, "stream": True}
    async with http.stream("POST", f"/v1/models/{MODEL}/predict", json=body) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if line.startswith("data: ") and not first:
                first = time.perf_counter() - start
            if line == "event: error":
                raise RuntimeError("a stream ended with an error event")
    return first, time.perf_counter() - start


Streamer: TypeAlias = Any  # grpc.aio's StreamStreamMultiCallable (grpcio ships no type hints)


async def _grpc_stream(stub: Streamer, metadata: tuple[tuple[str, str], ...], seed: int) -> tuple[float, float]:
    request = pb.ModelInferRequest(model_name=MODEL, id=str(seed))
    request.inputs.add(name="prompt", datatype="BYTES", shape=[1])
    request.raw_input_contents.append(len(PROMPT).to_bytes(4, "little") + PROMPT.encode())
    request.parameters["max_tokens"].int64_param = TOKENS
    request.parameters["seed"].int64_param = seed
    start, first = time.perf_counter(), 0.0
    async for response in stub([request], metadata=metadata):
        if response.error_message:
            raise RuntimeError(f"a gRPC stream failed: {response.error_message}")
        first = first or time.perf_counter() - start
    return first, time.perf_counter() - start


async def _whole(http: httpx.AsyncClient, seed: int) -> float:
    start = time.perf_counter()
    answer = await http.post(f"/v1/models/{MODEL}/predict", json={"prompt": PROMPT, "max_new_tokens": TOKENS,
                                                                   "seed": seed})
    answer.raise_for_status()
    return time.perf_counter() - start


async def _level(http: httpx.AsyncClient, grpc_stream: tuple[Streamer, tuple[tuple[str, str], ...]] | None,
                 streams: int, rounds: int) -> StreamFigures:
    firsts, stream_times, whole_times, stream_rates, whole_rates = [], [], [], [], []
    grpc_firsts: list[float] = []
    grpc_rates: list[float] = []
    for round_ in range(rounds + 1):  # round 0 warms up
        seeds = [round_ * 100 + i for i in range(streams)]
        start = time.perf_counter()
        streamed = await asyncio.gather(*(_stream(http, s) for s in seeds))
        streamed_s = time.perf_counter() - start
        start = time.perf_counter()
        whole = await asyncio.gather(*(_whole(http, s) for s in seeds))
        whole_s = time.perf_counter() - start
        if grpc_stream is not None:
            start = time.perf_counter()
            over_grpc = await asyncio.gather(*(_grpc_stream(*grpc_stream, s) for s in seeds))
            if round_:
                grpc_firsts += [f for f, _ in over_grpc]
                grpc_rates.append(streams * TOKENS / (time.perf_counter() - start))
        if round_:
            firsts += [f for f, _ in streamed]
            stream_times += [t for _, t in streamed]
            whole_times += whole
            stream_rates.append(streams * TOKENS / streamed_s)
            whole_rates.append(streams * TOKENS / whole_s)
    def ms(seconds: float) -> float:
        return round(seconds * 1e3, 2)

    return StreamFigures(streams, ms(statistics.median(firsts)), ms(_percentile(firsts, 0.99)),
                         ms(statistics.median(stream_times)), ms(statistics.median(whole_times)),
                         round(statistics.median(stream_rates), 1), round(statistics.median(whole_rates), 1),
                         ms(statistics.median(grpc_firsts)) if grpc_firsts else None,
                         round(statistics.median(grpc_rates), 1) if grpc_rates else None)


async def _measure(gateway_url: str, key: str | None, rounds: int, grpc_target: str | None) -> list[StreamFigures]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    limits = httpx.Limits(max_connections=max(CONCURRENCY) * 2)
    async with httpx.AsyncClient(base_url=gateway_url, headers=headers, timeout=120, limits=limits) as http:
        if grpc_target is None:
            return [await _level(http, None, streams, rounds) for streams in CONCURRENCY]
        async with grpc.aio.insecure_channel(grpc_target) as channel:
            stub = channel.stream_stream("/inference.GRPCInferenceService/ModelStreamInfer",
                                         request_serializer=pb.ModelInferRequest.SerializeToString,
                                         response_deserializer=pb.ModelStreamInferResponse.FromString)
            metadata = (("authorization", f"Bearer {key}"),) if key else ()
            return [await _level(http, (stub, metadata), streams, rounds) for streams in CONCURRENCY]


def measure(gateway_url: str, key: str | None = None, rounds: int = 5,
            grpc_target: str | None = None) -> list[StreamFigures]:
    """Every concurrency level against a running gateway that serves `char_rnn` (and over its gRPC
    ModelStreamInfer at `grpc_target`, host:port, when given)."""
    return asyncio.run(_measure(gateway_url, key, rounds, grpc_target))


def markdown(figures: list[StreamFigures]) -> str:
    """The streaming table and the issue's targets, met or not."""
    over_grpc = any(f.grpc_ttft_p50_ms is not None for f in figures)
    grpc_head = (" gRPC TTFT p50 (ms) | gRPC tokens/s |", "---|---|") if over_grpc else ("", "")
    out = ["### Streaming (`char_rnn`, 200-token continuations, SSE through the gateway"
           + ("; gRPC: ModelStreamInfer)" if over_grpc else ")"), "",
           "| streams | TTFT p50 (ms) | TTFT p99 (ms) | stream, whole (ms p50) | unstreamed answer (ms p50) | "
           "streamed tokens/s | unstreamed tokens/s | streamed / unstreamed |" + grpc_head[0],
           "|---|---|---|---|---|---|---|---|" + grpc_head[1]]
    for f in figures:
        grpc_cells = f" {f.grpc_ttft_p50_ms} | {f.grpc_tokens_per_s} |" if over_grpc else ""
        out.append(f"| {f.streams} | {f.ttft_p50_ms} | {f.ttft_p99_ms} | {f.stream_whole_ms} | {f.whole_answer_ms} | "
                   f"{f.streamed_tokens_per_s} | {f.whole_tokens_per_s} | "
                   f"{f.streamed_tokens_per_s / f.whole_tokens_per_s:.2f} |{grpc_cells}")
    out += ["", "Targets (issue #15), at 1 and 16 streams:", ""]
    for f in figures:
        if f.streams not in (1, 16):
            continue
        ttft_ok = f.ttft_p50_ms <= f.whole_answer_ms / 10
        rate_ok = f.streamed_tokens_per_s >= 0.9 * f.whole_tokens_per_s
        out.append(f"- {'met' if ttft_ok else 'NOT met'}: {f.streams} stream(s), TTFT p50 ≤ 1/10 of the whole "
                   f"answer — {f.ttft_p50_ms} ms against {f.whole_answer_ms / 10:.2f} ms")
        out.append(f"- {'met' if rate_ok else 'NOT met'}: {f.streams} stream(s), streamed tokens/s ≥ 0.9× "
                   f"unstreamed — {f.streamed_tokens_per_s / f.whole_tokens_per_s:.2f}×")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    """`python -m loadtests.stream_bench URL [KEY [GRPC_HOST:PORT]]`: a quick look at a running gateway's streams.
    A URL that is not http(s), or a gateway that cannot be reached, is one line and exit 2."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m loadtests.stream_bench",
                                     description="time to first token and tokens/s of a running gateway's streams")
    parser.add_argument("url", help="the gateway, e.g. http://127.0.0.1:8000")
    parser.add_argument("key", nargs="?", default=None, help="an API key (none: keys are off)")
    parser.add_argument("grpc_target", nargs="?", default=None, help="HOST:PORT of its gRPC port, for ModelStreamInfer")
    args = parser.parse_args(argv)
    if not args.url.startswith(("http://", "https://")):
        parser.error(f"URL must start with http:// or https://, got {args.url!r}")
    try:
        results = measure(args.url, args.key, grpc_target=args.grpc_target)
    except httpx.TransportError as error:
        print(f"error: cannot reach the gateway at {args.url}: {error}")
        return 2
    print(json.dumps([f.__dict__ for f in results], indent=2))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
