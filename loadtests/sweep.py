"""`python -m loadtests sweep`: TorchServe's batchSize × maxBatchDelay (and workers, torch threads) per model,
each served directly and through the gateway, with wrk at 1 and 16 connections. The archive defaults (the
registry's serving hints) are chosen from this table; the result goes to docs/benchmarks.md beside the benchmark."""

from __future__ import annotations

import argparse
import itertools
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from loadtests import bench_report, wrk
from loadtests.bench import example_body, median
from loadtests.stack import local_stack
from loadtests.wrk import WrkResult
from serving.archive.builder import build
from serving.cli import UsageError

BEGIN, END = "<!-- sweep: written by python -m loadtests sweep -->", "<!-- end sweep -->"
Config = tuple[int, int, int, int]  # batchSize, maxBatchDelay (ms), workers, torch threads per worker


def configs(args: argparse.Namespace) -> list[Config]:
    """The grid at one worker of one thread, then each extra worker count at the grid's middle batch settings,
    then each extra thread count at its first (the archives' default: no TorchServe batching)."""
    grid = [(b, d, 1, 1) for b, d in itertools.product(args.batch_sizes, args.delays)]
    middle = (sorted(args.batch_sizes)[len(args.batch_sizes) // 2], sorted(args.delays)[len(args.delays) // 2])
    first = (min(args.batch_sizes), min(args.delays))
    return (grid + [(*middle, w, 1) for w in args.workers if w != 1]
            + [(*first, 1, t) for t in args.threads if t != 1])


def measure_config(model: str, config: Config, args: argparse.Namespace, work: Path) -> dict[str, WrkResult]:
    """One archive with these settings, served alone: direct and gateway at 1 and 16 connections."""
    batch_size, delay, workers, threads = config
    store = work / "store"
    store.mkdir(parents=True, exist_ok=True)
    for old in store.glob("*.mar"):
        old.unlink()
    build(args.artifacts / model, store, "cpu", {"batch_size": batch_size, "max_batch_delay_ms": delay,
                                                 "workers": workers, "torch_threads": threads})
    body = example_body(args.artifacts / model)
    results = {}
    with local_stack(store, work / f"{model}-{'-'.join(map(str, config))}") as stack:
        targets = {"torchserve": (f"{stack.torchserve_url}/predictions/{model}",
                                  wrk.script(work, f"{model}-ts", body, "application/json", stack.torchserve_key)),
                   "gateway": (f"{stack.gateway_url}/v1/models/{model}/predict",
                               wrk.script(work, f"{model}-gw", body, "application/json", None))}
        for connections in (1, 16):
            for name, (url, lua) in targets.items():
                runs = [wrk.run(url, lua, connections, args.seconds, threads=2) for _ in range(args.repeats)]
                results[f"{name}-{connections}"] = median(runs)
    return results


def markdown(results: dict[str, dict[Config, dict[str, WrkResult]]], args: argparse.Namespace) -> str:
    """The sweep's tables, one per model."""
    out = ["## TorchServe settings sweep", "",
           f"`python -m loadtests sweep`: each setting archived and served alone, wrk {args.seconds} s per run, "
           f"median of {args.repeats}. Machine: {bench_report.machine()}.", ""]
    for model, rows in results.items():
        out += [f"### `{model}`", "", "| batchSize | maxBatchDelay (ms) | workers | torch threads | direct req/s, "
                "16 conn | gateway req/s, 16 conn | direct p50, 1 conn (ms) | gateway p50, 1 conn (ms) | gateway p99, "
                "16 conn (ms) | errors |", "|---|---|---|---|---|---|---|---|---|---|"]
        for (batch, delay, workers, threads), r in rows.items():
            errors = sum(x.errors for x in r.values())
            out.append(f"| {batch} | {delay} | {workers} | {threads} | {r['torchserve-16'].requests_per_s:.0f} | "
                       f"{r['gateway-16'].requests_per_s:.0f} | {r['torchserve-1'].p50_ms:.2f} | "
                       f"{r['gateway-1'].p50_ms:.2f} | {r['gateway-16'].p99_ms:.1f} | {errors} |")
        out.append("")
    return "\n".join(out)


def main(args: argparse.Namespace, log: Callable[[str], None] = print) -> int:
    """Run the grid for each model and write the tables."""
    wrk.require()
    missing = [m for m in args.models if not (args.artifacts / m / "model.pt").is_file()]
    if missing:
        raise UsageError(f"no artifacts for {', '.join(missing)} (run `make export`)")
    results: dict[str, dict[Config, dict[str, WrkResult]]] = {}
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="sweep-") as tmp:
        for model in args.models:
            results[model] = {}
            for config in configs(args):
                results[model][config] = measure_config(model, config, args, Path(tmp))
                r = results[model][config]
                log(f"{model} batch={config[0]} delay={config[1]} workers={config[2]} threads={config[3]}: direct "
                    f"{r['torchserve-16'].requests_per_s:.0f} req/s, gateway {r['gateway-16'].requests_per_s:.0f} "
                    f"req/s; p50 at 1 conn {r['torchserve-1'].p50_ms:.2f} / {r['gateway-1'].p50_ms:.2f} ms")
    text = markdown(results, args) + f"\n{(time.time() - started) / 60:.0f} min in all.\n"
    previous = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
    args.out.write_text(bench_report.merge(previous, text, BEGIN, END), encoding="utf-8")
    print(text)
    return 0
