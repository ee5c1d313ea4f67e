"""`python -m loadtests bench` (`make bench`): the same models served by the stack and by its peers, on this
machine, in one run.

The stack four ways: 1. in-process, the model's handler called here, a batch of N requests at a time (the
ceiling: no network); 2. TorchServe directly, with the archive's settings; 3. the gateway's v1 route and 4. its
v2 route in front of TorchServe. Then each peer of `--peers` (loadtests/peers/: LitServe, Ray Serve, BentoML,
KServe, MLServer, TorchServe at its best settings) on the same TorchScript file, in the better of its modes.
All but the first are driven by wrk (compiled, closed loop) at each connection count; every figure is the median
of interleaved repeats (each peer's runs alternate with the stack's), so drift in the machine hits all alike.
"""

from __future__ import annotations

import argparse
import functools
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from loadtests import bench_report, stack_memory, stream_bench, wrk
from loadtests.inprocess import InProcessModel
from loadtests.peers import compare
from loadtests.peers import report as peers_report
from loadtests.peers.compare import PeerRun
from loadtests.peers.registry import PEERS
from loadtests.stack import LocalStack, local_stack
from loadtests.stack_memory import StackMemory
from loadtests.wrk import WrkResult, median
from serving.cli import UsageError
from serving.examples import example_request

WAYS = ("in-process", "torchserve", "gateway", "gateway-v2")
Results = dict[str, dict[str, dict[int, WrkResult]]]  # model → way → connections → median result


def in_process(model: InProcessModel, body: bytes, connections: int, seconds: float) -> WrkResult:
    """N callers served as one batch per handler call, for `seconds`: throughput and per-call latency."""
    model.answer([body] * connections)  # warm this batch size
    latencies, errors = [], 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        begin = time.perf_counter()
        model.answer([body] * connections)
        latencies.append((time.perf_counter() - begin) * 1000)
        errors += sum(model.status(i) != 200 for i in range(connections))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return WrkResult(len(latencies) * connections / elapsed, latencies[len(latencies) // 2],
                     latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], errors, 0.0)


@dataclass
class Measured:
    """What one bench run measured: the stack's ways, the peers' runs, and the stack's memory per model."""

    results: Results = field(default_factory=dict)
    peers: dict[str, list[PeerRun]] = field(default_factory=dict)  # model → one run per peer route
    memory: dict[str, StackMemory] = field(default_factory=dict)
    stack_ready_s: float = 0.0  # TorchServe with every archive of the store, then the gateway
    streams: list[stream_bench.StreamFigures] = field(default_factory=list)  # char_rnn's, when it is benched


def measure(args: argparse.Namespace, work: Path, log: Callable[[str], None]) -> Measured:
    """Every model × way × connection count, and each peer alternating with the stack; then, when `char_rnn`
    is among the models, its streams."""
    measured = Measured()
    begin = time.monotonic()
    with local_stack(args.store, work) as stack:
        measured.stack_ready_s = time.monotonic() - begin
        for model in args.models:
            stack_scripts = _stack_scripts(stack, model, args, work)
            rounds: dict[str, dict[int, list[WrkResult]]] = {way: {c: [] for c in args.connections} for way in WAYS}
            stack_round = functools.partial(_stack_round, stack_scripts, rounds, args.seconds)
            local = InProcessModel(args.artifacts / model, batch_size=max(args.connections))
            body = example_body(args.artifacts / model)
            # The stack's rounds alternate with the peers' where the model has peers (char_rnn has none: then
            # they alternate with the in-process rounds, as when no peer is asked for).
            peers = args.peers if compare.comparable(args.artifacts / model) else []
            for connections in args.connections:
                for _ in range(args.repeats):
                    rounds["in-process"][connections].append(in_process(local, body, connections, args.seconds))
                    if not peers:
                        stack_round(connections)
            measured.peers[model] = [run for name in peers for run in compare.measure(
                PEERS[name], args.artifacts / model, args, work / "peers", log, stack_round)]
            measured.results[model] = {way: {c: median(runs) for c, runs in by_conn.items()}
                                       for way, by_conn in rounds.items()}
            measured.memory[model] = stack_memory.measure(stack, model)
            for c in args.connections:
                log(f"{model} c={c}: " + ", ".join(f"{way} {measured.results[model][way][c].requests_per_s:.0f} req/s"
                                                   for way in WAYS))
        if stream_bench.MODEL in args.models:
            measured.streams = stream_bench.measure(stack.gateway_url, stack.gateway_key or None,
                                                    grpc_target=f"127.0.0.1:{stack.gateway_grpc_port}")
            log(f"{stream_bench.MODEL} streams: " + ", ".join(f"{f.streams}: TTFT p50 {f.ttft_p50_ms} ms"
                                                              for f in measured.streams))
    return measured


def _stack_round(scripts: dict[str, tuple[str, Path]], rounds: dict[str, dict[int, list[WrkResult]]], seconds: int,
                 connections: int) -> None:
    """One wrk run of each of the stack's ways at `connections`."""
    for way, (url, lua) in scripts.items():
        rounds[way][connections].append(wrk.run(url, lua, connections, seconds, threads=2))


def _stack_scripts(stack: LocalStack, model: str, args: argparse.Namespace, work: Path) -> dict[str, tuple[str, Path]]:
    """(URL, wrk script) of TorchServe direct, the gateway's v1 route and its v2 route (the gateway's own
    example_infer_request: the v2 body its model page shows)."""
    body = example_body(args.artifacts / model)
    page = httpx.get(f"{stack.gateway_url}/v1/models/{model}", timeout=30).json()
    v2 = json.dumps(page["example_infer_request"]).encode()
    return {"torchserve": (f"{stack.torchserve_url}/predictions/{model}",
                           wrk.script(work, f"{model}-ts", body, "application/json", stack.torchserve_key)),
            "gateway": (f"{stack.gateway_url}/v1/models/{model}/predict",
                        wrk.script(work, f"{model}-gw", body, "application/json", None)),
            "gateway-v2": (f"{stack.gateway_url}/v2/models/{model}/infer",
                           wrk.script(work, f"{model}-gw2", v2, "application/json", None))}


def example_body(artifact_dir: Path) -> bytes:
    """The v1 request body every way of serving gets: the model's held-out example from its signature."""
    signature = json.loads((artifact_dir / "signature.json").read_text(encoding="utf-8"))
    return json.dumps(example_request(signature)).encode()


def main(args: argparse.Namespace) -> int:
    """Check the inputs, measure, write docs/benchmarks.md and its plot, print the table."""
    wrk.require()
    missing = [m for m in args.models if not (args.store / f"{m}.mar").is_file()
               or not (args.artifacts / m / "model.pt").is_file()]
    if missing:
        raise UsageError(f"no archive or artifacts for {', '.join(missing)} (run `make archive`)")
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        measured = measure(args, Path(tmp), lambda line: print(line, flush=True))
    chart, peers_chart = args.out.with_suffix(".png"), args.out.with_name(f"{args.out.stem}-peers.png")
    text = bench_report.markdown(measured.results, args, time.time() - started)
    text += f"\n![req/s against connections: in-process, TorchServe and the gateway]({chart.name})\n\n"
    if any(measured.peers.values()):
        text += peers_report.markdown(measured.results, measured.peers, measured.memory, measured.stack_ready_s)
        text += f"\n![req/s of the stack and each peer at its better mode]({peers_chart.name})\n"
    if measured.streams:
        text += "\n" + stream_bench.markdown(measured.streams)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    previous = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
    args.out.write_text(bench_report.merge(previous, text), encoding="utf-8")
    bench_report.plot(measured.results, chart)
    if any(measured.peers.values()):
        peers_report.plot(measured.results, measured.peers, peers_chart)
    print(text)
    return 0
