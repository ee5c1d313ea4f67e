"""`python -m loadtests.jvm_options`: TorchServe's JVM options (`TS_JVM_OPTIONS`, config.properties `vmargs`)
against its memory and the stack's speed. One stack per option set, all up at once, each serving the one model; wrk
takes turns on their gateways (v1 predict of one model) round by round, so a busy machine's drift hits every set
alike; then each stack's memory (PSS: the JVM, the model's workers, the gateway) and its time to ready.

    python -m loadtests.jvm_options --store model_store --model mlp_classifier \\
        --options "" "-XX:+UseSerialGC -Xms32m -Xmx1g -Xss512k" --warmup 60 --repeats 5
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from loadtests import run_counts, stack_memory, wrk
from loadtests.stack import LocalStack, gateway_process, running_torchserve, settings_for, wait_until_up
from serving.examples import example_request
from serving.gateway.core.catalog import Catalog
from serving.modelserver import ModelServerSettings


@dataclass(frozen=True)
class OptionFigures:
    """One option set: its medians over the rounds, its memory after them, and its time to ready."""

    options: str
    requests_per_s: float
    p99_ms: float
    errors: int
    memory: stack_memory.StackMemory
    ready_s: float


@contextmanager
def stack_with(store: Path, work: Path, options: str) -> Iterator[tuple[LocalStack, float]]:
    """TorchServe with `options` for its JVM and a gateway in front; yields it and the seconds until both served."""
    began = time.monotonic()
    settings = settings_for(store.resolve(), work / "torchserve", startup_timeout_s=300, ts_jvm_options=options)
    with running_torchserve(settings) as model_server, \
            gateway_process(store.resolve(), model_server, work / "gateway.log", GATEWAY_API_KEYS="",
                            GATEWAY_LOG_LEVEL="WARNING") as (url, process):
        wait_until_up(f"{url}/readyz", process, work / "gateway.log")
        yield LocalStack(url, "", model_server, process), time.monotonic() - began


def measure(args: argparse.Namespace, work: Path) -> list[OptionFigures]:
    """Every option set's stack up at once; `args.repeats` rounds of wrk on each in turn."""
    store = work / "store"  # the one model: the JVM's and the workers' figures are that model's
    store.mkdir()
    shutil.copy(args.store / f"{args.model}.mar", store)
    entry = Catalog.from_store(store).get(args.model)
    body = json.dumps(example_request(entry.signature)).encode()
    lua = wrk.script(work, "v1", body, "application/json", None)
    with ExitStack() as stacks:
        started = [stacks.enter_context(stack_with(store, work / f"set{i}", options))
                   for i, options in enumerate(args.options)]
        for stack, _ in started:  # the JIT compilers and the pools warm before anything counts
            wrk.run(f"{stack.gateway_url}/v1/models/{args.model}/predict", lua, args.connections, args.warmup)
        runs: list[list[wrk.WrkResult]] = [[] for _ in started]
        for _ in range(args.repeats):
            for index, (stack, _) in enumerate(started):
                runs[index].append(wrk.run(f"{stack.gateway_url}/v1/models/{args.model}/predict", lua,
                                           args.connections, args.seconds, threads=2))
        return [OptionFigures(options or "(none: the JVM's defaults)",
                              statistics.median(r.requests_per_s for r in results),
                              statistics.median(r.p99_ms for r in results), sum(r.errors for r in results),
                              stack_memory.measure(stack, args.model), ready_s)
                for options, (stack, ready_s), results in zip(args.options, started, runs, strict=True)]


def table(figures: list[OptionFigures]) -> str:
    """The markdown table of one run."""
    lines = ["| JVM options | req/s | p99 ms | errors | JVM PSS MiB | workers PSS MiB | gateway PSS MiB | "
             "ready s |", "|---|---|---|---|---|---|---|---|"]
    lines += [f"| `{f.options}` | {f.requests_per_s:.0f} | {f.p99_ms:.1f} | {f.errors} | {f.memory.jvm_mib:.0f} | "
              f"{sum(f.memory.workers_mib):.0f} | {f.memory.gateway_mib:.0f} | {f.ready_s:.1f} |" for f in figures]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m loadtests.jvm_options", description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=Path, default=Path("model_store"), help="the archives to serve")
    parser.add_argument("--model", default="mlp_classifier", help="the model wrk predicts with")
    parser.add_argument("--options", nargs="+", default=["", ModelServerSettings().ts_jvm_options],
                        help="the JVM option sets to compare (\"\" for the JVM's defaults)")
    run_counts.add(parser, warmup_s=2)
    args = parser.parse_args(argv)
    if not (args.store / f"{args.model}.mar").is_file():
        parser.exit(2, f"error: {args.store} has no {args.model}.mar (make archive builds it)\n")
    run_counts.check(parser, args)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="jvm-options-") as work:
        figures = measure(args, Path(work))
    print(f"{args.model}, wrk -t2 -c{args.connections} on v1 predict, {args.warmup} s of warm-up, {args.repeats} "
          f"rounds of {args.seconds} s, medians; memory after the rounds")
    print(table(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
