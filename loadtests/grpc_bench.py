"""`python -m loadtests.grpc_bench`: OIP v2 inference over gRPC against the same over REST (JSON), on one gateway,
both driven by a compiled closed-loop client on one thread: h2load for gRPC (`loadtests/h2load.py`), wrk for
REST. Runs alternate (REST, gRPC, REST, ...) so that drift in a busy machine hits both alike; each figure is the
median of the repeats. The gateway's CPU time per request is read from its process around each run.

    python -m loadtests.grpc_bench --store model_store --model mlp_classifier --connections 16 --seconds 10
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import psutil

from loadtests import h2load, wrk
from loadtests.stack import local_stack
from serving.gateway.core.catalog import Catalog
from serving.gateway.frontends.grpc_v2 import inference_pb2 as pb

INFER = "/inference.GRPCInferenceService/ModelInfer"


@dataclass(frozen=True)
class Figure:
    """One protocol's median run: throughput, latency (wrk's p50, h2load's mean), failures, gateway CPU/request."""

    requests_per_s: float
    latency_ms: float
    failed: int
    gateway_cpu_ms: float


def grpc_message(model: str, example: dict[str, Any]) -> pb.ModelInferRequest:
    """The model's v2 example as tritonclient.grpc sends it: raw little-endian contents."""
    (tensor,) = example["inputs"]
    data = np.asarray(tensor["data"], dtype={"FP32": "<f4", "INT64": "<i8"}[tensor["datatype"]])
    message = pb.ModelInferRequest(model_name=model, raw_input_contents=[data.tobytes()])
    message.inputs.add(name=tensor["name"], datatype=tensor["datatype"], shape=tensor["shape"])
    return message


def answer_size(target: str, message: pb.ModelInferRequest) -> int:
    """The framed size of a successful answer (one call through a real gRPC channel, which must succeed)."""
    with grpc.insecure_channel(target) as channel:
        call = channel.unary_unary(INFER, request_serializer=None, response_deserializer=None)
        answer: bytes = call(message.SerializeToString(), timeout=30)
    return len(h2load.framed(answer))


def measure(args: argparse.Namespace, work: Path) -> dict[str, Figure]:
    """REST JSON and gRPC, alternating, `args.repeats` times each."""
    entry = Catalog.from_store(args.store).get(args.model)
    example = entry.model_kind.example_infer(entry.signature)
    with local_stack(args.store, work) as stack:
        gateway = psutil.Process(stack.gateway.pid)
        rest_body = json.dumps(example).encode()
        lua = wrk.script(work, "v2-json", rest_body, "application/json", None)
        rest_url = f"{stack.gateway_url}/v2/models/{entry.name}/infer"
        message = grpc_message(entry.name, example)
        target = f"127.0.0.1:{stack.gateway_grpc_port}"
        size, body = answer_size(target, message), h2load.body_file(work, "infer", message.SerializeToString())
        runs: dict[str, list[Figure]] = {"REST v2 JSON (wrk)": [], "gRPC ModelInfer (h2load)": []}
        for _ in range(args.repeats):
            before = _cpu(gateway)
            rest = wrk.run(rest_url, lua, args.connections, args.seconds, threads=1)
            runs["REST v2 JSON (wrk)"].append(
                Figure(rest.requests_per_s, rest.p50_ms, rest.errors,
                       _per_request(gateway, before, rest.requests_per_s * args.seconds)))
            before = _cpu(gateway)
            calls = h2load.run(f"http://{target}{INFER}", body, args.connections, args.seconds, size)
            runs["gRPC ModelInfer (h2load)"].append(
                Figure(calls.requests_per_s, calls.mean_ms, calls.failed,
                       _per_request(gateway, before, calls.requests_per_s * args.seconds)))
    return {name: Figure(statistics.median(f.requests_per_s for f in figures),
                         statistics.median(f.latency_ms for f in figures), sum(f.failed for f in figures),
                         statistics.median(f.gateway_cpu_ms for f in figures)) for name, figures in runs.items()}


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def _per_request(process: psutil.Process, before: float, requests: float) -> float:
    return (_cpu(process) - before) * 1000 / max(requests, 1)


def table(figures: dict[str, Figure], args: argparse.Namespace) -> str:
    """A markdown table of the medians."""
    lines = [f"`{args.model}`, {args.connections} connections, {args.seconds} s × {args.repeats} interleaved runs, "
             "one client thread each", "",
             "| protocol (client) | req/s | latency ms (wrk p50 / h2load mean) | failed | gateway CPU ms/request |",
             "|---|---|---|---|---|"]
    lines += [f"| {name} | {f.requests_per_s:.0f} | {f.latency_ms:.2f} | {f.failed} | {f.gateway_cpu_ms:.3f} |"
              for name, f in figures.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Measure and print the table; exit 2 with one line when a tool or the archive is missing."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, default=Path("model_store"))
    parser.add_argument("--model", default="mlp_classifier")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    try:
        h2load.h2load_binary()
        wrk.wrk_binary()
        if not (args.store / f"{args.model}.mar").is_file():
            raise FileNotFoundError(f"no archive {args.store / args.model}.mar (run `make archive`)")
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="grpc-bench-") as tmp:
        print(table(measure(args, Path(tmp)), args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
