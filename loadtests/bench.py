"""`python -m loadtests bench` (`make bench`): the same models served four ways, on this machine, in one run.

1. in-process: the model's handler called here, a batch of N requests at a time (the ceiling: no network);
2. TorchServe directly; 3. the gateway in front of TorchServe; 4. LitServe serving the same TorchScript file
through the same handler. 2-4 are driven by wrk (compiled, closed loop) at each connection count; every
figure is the median of interleaved repeats, so drift in the machine hits all servers alike.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import yaml

from loadtests import bench_report, stream_bench, wrk
from loadtests.inprocess import InProcessModel
from loadtests.stack import free_ports, local_stack, server_process
from loadtests.wrk import WrkResult
from serving.cli import UsageError
from serving.examples import example_request

WAYS = ("in-process", "torchserve", "gateway", "litserve")
Results = dict[str, dict[str, dict[int, WrkResult]]]  # model → way → connections → median result


def batch_settings(store: Path, model: str) -> tuple[int, float]:
    """(batchSize, maxBatchDelay ms) of the model's archive: LitServe gets the same batching."""
    with zipfile.ZipFile(store / f"{model}.mar") as archive:
        config = yaml.safe_load(archive.read("model-config.yaml"))
    return int(config.get("batchSize", 1)), float(config.get("maxBatchDelay", 0))


def median(results: list[WrkResult]) -> WrkResult:
    """The median of each figure over repeated runs (errors summed)."""
    return WrkResult(statistics.median(r.requests_per_s for r in results),
                     statistics.median(r.p50_ms for r in results), statistics.median(r.p99_ms for r in results),
                     sum(r.errors for r in results), statistics.median(r.client_cpu_share for r in results))


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


def measure(args: argparse.Namespace, work: Path, log: Callable[[str], None]
            ) -> tuple[Results, list[stream_bench.StreamFigures]]:
    """Every model × way × connection count; then, when `char_rnn` is among the models, its streams."""
    results: Results = {}
    streams: list[stream_bench.StreamFigures] = []
    with local_stack(args.store, work) as stack:
        token = stack.torchserve_key
        for model in args.models:
            body = example_body(args.artifacts / model)
            scripts = {"torchserve": (f"{stack.torchserve_url}/predictions/{model}",
                                      wrk.script(work, f"{model}-ts", body, "application/json", token)),
                       "gateway": (f"{stack.gateway_url}/v1/models/{model}/predict",
                                   wrk.script(work, f"{model}-gw", body, "application/json", None))}
            batch_size, delay_ms = batch_settings(args.store, model)
            port = free_ports(1)[0]
            command = [sys.executable, "-m", "loadtests.litserve_app", str(args.artifacts / model), "--port",
                       str(port), "--batch-size", str(batch_size), "--batch-delay-ms", str(delay_ms)]
            with server_process(command, f"http://127.0.0.1:{port}/health", work / f"litserve-{model}.log", {},
                                timeout_s=120):
                scripts["litserve"] = (f"http://127.0.0.1:{port}/predict",
                                       wrk.script(work, f"{model}-ls", body, "application/json", None))
                results[model] = _measure_model(model, body, scripts, args, log)
        if stream_bench.MODEL in args.models:
            streams = stream_bench.measure(stack.gateway_url, stack.gateway_key or None)
            log(f"{stream_bench.MODEL} streams: " + ", ".join(f"{f.streams}: TTFT p50 {f.ttft_p50_ms} ms"
                                                              for f in streams))
    return results, streams


def _measure_model(model: str, body: bytes, scripts: dict[str, tuple[str, Path]], args: argparse.Namespace,
                   log: Callable[[str], None]) -> dict[str, dict[int, WrkResult]]:
    local = InProcessModel(args.artifacts / model, batch_size=max(args.connections))
    out: dict[str, dict[int, WrkResult]] = {way: {} for way in WAYS}
    for connections in args.connections:
        runs: dict[str, list[WrkResult]] = {way: [] for way in WAYS}
        for _ in range(args.repeats):
            runs["in-process"].append(in_process(local, body, connections, args.seconds))
            for way, (url, lua) in scripts.items():
                runs[way].append(wrk.run(url, lua, connections, args.seconds, threads=2))
        for way in WAYS:
            out[way][connections] = median(runs[way])
        log(f"{model} c={connections}: " + ", ".join(f"{way} {out[way][connections].requests_per_s:.0f} req/s"
                                                     for way in WAYS))
    return out


def example_body(artifact_dir: Path) -> bytes:
    """The v1 request body every way of serving gets: the model's held-out example from its signature."""
    signature = json.loads((artifact_dir / "signature.json").read_text(encoding="utf-8"))
    return json.dumps(example_request(signature)).encode()


def main(args: argparse.Namespace) -> int:
    """Check the inputs, measure, write docs/benchmarks.md and its plot, print the table."""
    try:
        wrk.wrk_binary()
    except FileNotFoundError as error:
        raise UsageError(str(error)) from None
    missing = [m for m in args.models if not (args.store / f"{m}.mar").is_file()
               or not (args.artifacts / m / "model.pt").is_file()]
    if missing:
        raise UsageError(f"no archive or artifacts for {', '.join(missing)} (run `make archive`)")
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        results, streams = measure(args, Path(tmp), lambda line: print(line, flush=True))
    text = bench_report.markdown(results, args, time.time() - started)
    if streams:
        text += "\n" + stream_bench.markdown(streams)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    previous = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
    args.out.write_text(bench_report.merge(previous, text), encoding="utf-8")
    bench_report.plot(results, args.out.with_suffix(".png"))
    print(text)
    return 0
