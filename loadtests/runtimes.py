"""`python -m loadtests runtimes`: each model on each runtime it has (TorchScript, AOTInductor, ONNX Runtime).

In process: the model's handler called here at batch 1, 8 and 64 with one torch (and ORT) thread, as the
workers run; the handler's start (load and warm-up) timed, the model file's size read. Through the stack: a
TorchServe and gateway serving every model on one runtime, wrk at 1 and 16 connections on the gateway's v1
route, the three stacks up at once and taking turns run by run, and each worker's proportional set size (PSS)
once loaded. Runtimes are measured in turn, model by model for the in-process figures, so drift on a shared
machine hits all of them alike.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import torch

from loadtests import runtimes_report, wrk
from loadtests.bench import example_body, in_process
from loadtests.inprocess import InProcessModel
from loadtests.stack import LocalStack, local_stack
from loadtests.wrk import WrkResult
from serving.archive.builder import build
from serving.cli import UsageError
from serving.modelserver.workers import worker_pids


@dataclass
class Figures:
    """What was measured for one model on one runtime."""

    start_s: float = 0.0
    file_bytes: int = 0
    batches: dict[int, WrkResult] = field(default_factory=dict)
    stack: dict[int, WrkResult] = field(default_factory=dict)  # the median of the interleaved repeats
    stack_spread: dict[int, tuple[float, float]] = field(default_factory=dict)  # their lowest and highest req/s
    pss_bytes: int = 0


Results = dict[str, dict[str, Figures]]  # model → runtime → figures


def served_runtimes(artifact_dir: Path) -> dict[str, str]:
    """runtime → model file, as the artifact's signature lists them."""
    signature = json.loads((artifact_dir / "signature.json").read_text(encoding="utf-8"))
    return {name: entry["file"] for name, entry in (signature.get("runtimes") or {}).items()}


def import_seconds() -> dict[str, float]:
    """What each runtime's first load in a process costs before any model: importing Inductor or onnxruntime
    (TorchScript comes with torch). Paid here once, so the per-model start figures compare loads alone."""
    seconds = {"torchscript": 0.0}
    for runtime, module in (("aoti", "torch._inductor"), ("onnx", "onnxruntime")):
        started = time.perf_counter()
        importlib.import_module(module)
        seconds[runtime] = time.perf_counter() - started
    return seconds


def measure_in_process(args: argparse.Namespace, results: Results) -> None:
    """Start, size and batch throughput of every model on every runtime, one torch thread."""
    torch.set_num_threads(1)
    for model in args.models:
        body = example_body(args.artifacts / model)
        for runtime, file in served_runtimes(args.artifacts / model).items():
            if runtime not in args.runtimes:
                continue
            figures = results.setdefault(model, {}).setdefault(runtime, Figures())
            started = time.perf_counter()
            local = InProcessModel(args.artifacts / model, batch_size=max(args.batches), runtime=runtime)
            figures.start_s = time.perf_counter() - started
            figures.file_bytes = (args.artifacts / model / file).stat().st_size
            for batch in args.batches:
                figures.batches[batch] = in_process(local, body, batch, args.seconds)
            print(f"{model} {runtime}: start {figures.start_s:.2f} s, " + ", ".join(
                f"b{b} {r.requests_per_s:.0f}/s" for b, r in figures.batches.items()), flush=True)


def measure_stacks(args: argparse.Namespace, results: Results, work: Path) -> None:
    """One stack per runtime, all up at once, each serving every model on its runtime; wrk through each
    gateway, the runtimes taking turns run by run (`--repeats` rounds, the median kept, the spread recorded),
    so drift in the machine's load hits every runtime alike. Then each worker's PSS."""
    served = {runtime: [m for m in args.models if runtime in served_runtimes(args.artifacts / m)]
              for runtime in args.runtimes}
    with contextlib.ExitStack() as stacks:
        gateways: dict[str, LocalStack] = {}
        for runtime, models in served.items():
            store = work / f"store-{runtime}"
            for model in models:
                build(args.artifacts / model, store, "cpu", runtime=runtime)
            gateways[runtime] = stacks.enter_context(local_stack(store, work / f"stack-{runtime}"))
        for model in args.models:
            body = example_body(args.artifacts / model)
            runtimes = [r for r in args.runtimes if model in served[r]]
            for connections in args.connections:
                runs: dict[str, list[WrkResult]] = {r: [] for r in runtimes}
                for _ in range(args.repeats):
                    for runtime in runtimes:
                        lua = wrk.script(work, f"{model}-{runtime}", body, "application/json", None)
                        runs[runtime].append(wrk.run(f"{gateways[runtime].gateway_url}/v1/models/{model}/predict",
                                                     lua, connections, args.seconds, threads=2))
                for runtime, measured in runs.items():
                    figures = results[model][runtime]
                    figures.stack[connections] = wrk.median(measured)
                    figures.stack_spread[connections] = (min(r.requests_per_s for r in measured),
                                                         max(r.requests_per_s for r in measured))
            for runtime in runtimes:
                figures = results[model][runtime]
                figures.pss_bytes = sum(_pss(pid) for pid in worker_pids(gateways[runtime].model_server, model))
                print(f"{model} {runtime} stack: " + ", ".join(
                    f"c{c} {r.requests_per_s:.0f}/s p50 {r.p50_ms:.1f} ms" for c, r in figures.stack.items())
                    + f", PSS {figures.pss_bytes / 2**20:.0f} MiB", flush=True)


def _pss(pid: int) -> int:
    try:
        return int(psutil.Process(pid).memory_full_info().pss)
    except (psutil.Error, AttributeError):  # PSS is Linux-only
        return 0


def main(args: argparse.Namespace) -> int:
    """Check the inputs, measure, write docs/runtimes.md and its plot."""
    wrk.require()
    missing = [m for m in args.models if not (args.artifacts / m / "signature.json").is_file()]
    if missing:
        raise UsageError(f"no artifacts for {', '.join(missing)} under {args.artifacts} (run `make export`)")
    started = time.time()
    results: Results = {}
    imports = import_seconds()
    measure_in_process(args, results)
    with tempfile.TemporaryDirectory(prefix="runtimes-") as tmp:
        measure_stacks(args, results, Path(tmp))
    text = runtimes_report.markdown(results, args, time.time() - started, imports)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    runtimes_report.plot(results, args.out.with_suffix(".png"))
    print(text)
    return 0
