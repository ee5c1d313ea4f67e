"""`python -m loadtests.cpu_split`: where a request's CPU goes, process by process. The stack (gateway, then
TorchServe with the archive's batchSize 1, behind the gateway's coalescer) and TorchServe called directly at its
best batching (the peers' settings: batchSize 8, maxBatchDelay 2 ms), both up at once on one model; wrk takes turns
on them, and around each run the CPU time (user + system, /proc) of every process is read: the gateway, the JVM,
the model's workers, and wrk itself. Each figure is CPU milliseconds per request answered, median over the rounds.
With --jvm-threads, the JVM's share is also split by thread (jstack's per-thread CPU time): its Netty event
loops, the model's worker threads, the readers of the workers' stdout, the JIT compilers, the GC.

    python -m loadtests.cpu_split --artifacts artifacts --model mlp_classifier --connections 16 --seconds 5
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import psutil

from loadtests import run_counts, wrk
from loadtests.peers.torchserve import BEST
from loadtests.stack import local_stack, running_torchserve, settings_for
from serving.archive.builder import build
from serving.examples import example_request
from serving.modelserver import ModelServerSettings, read_keys
from serving.modelserver.java import find_java_home
from serving.modelserver.paths import ServerPaths
from serving.modelserver.processes import server_process
from serving.modelserver.workers import worker_pids

PARTS = ("gateway", "jvm", "workers", "wrk")
THREAD = "jvm thread: "  # the key prefix of a JVM thread group's figure
# A thread in `jstack` output: `"W-9000-mlp_classifier_1.0" #38 [4242] prio=5 os_prio=0 cpu=812.03ms elapsed=…`
_JSTACK_THREAD = re.compile(r'^"([^"]+)"[^\n]*?\bcpu=([\d.]+)ms', re.MULTILINE)


@dataclass(frozen=True)
class Split:
    """One server's median run: req/s and CPU ms per request by process (the parts it has)."""

    server: str
    requests_per_s: float
    cpu_ms: dict[str, float]

    @property
    def total_ms(self) -> float:
        """The server's own processes (wrk's share left out)."""
        return sum(ms for part, ms in self.cpu_ms.items() if part in PARTS and part != "wrk")


def cpu_s(processes: list[psutil.Process]) -> float:
    """The processes' CPU time so far."""
    return sum(t.user + t.system for t in (p.cpu_times() for p in processes))


def thread_groups(jstack_output: str) -> dict[str, float]:
    """CPU ms of each thread group in a `jstack` dump: threads named alike but for their numbers summed."""
    groups: dict[str, float] = defaultdict(float)
    for name, cpu_ms in _JSTACK_THREAD.findall(jstack_output):
        groups[re.sub(r"\d+", "N", name)] += float(cpu_ms)
    return dict(groups)


def jvm_threads_ms(jstack: Path, jvm: psutil.Process) -> dict[str, float]:
    """The JVM's CPU ms so far, by thread group (`jstack`: the tool of the Java that runs it)."""
    dump = subprocess.run([str(jstack), str(jvm.pid)], capture_output=True, text=True, timeout=60, check=True)
    return thread_groups(dump.stdout)


def measured_run(url: str, lua: Path, args: argparse.Namespace, parts: dict[str, list[psutil.Process]],
                 jstack: Path | None = None) -> tuple[float, dict[str, float]]:
    """One wrk run; req/s and each part's CPU ms per request (wrk's from its own report), and given `jstack`
    each JVM thread group's (keys starting with THREAD)."""
    # The thread dumps bracket the process figures: their own CPU (the JVM's attach listener, a safepoint) is
    # then outside the JVM column, and shows in the thread table under the threads that made them.
    threads_before = jvm_threads_ms(jstack, parts["jvm"][0]) if jstack else {}
    before = {part: cpu_s(processes) for part, processes in parts.items()}
    result = wrk.run(url, lua, args.connections, args.seconds, threads=2)
    after = {part: cpu_s(processes) for part, processes in parts.items()}
    threads_after = jvm_threads_ms(jstack, parts["jvm"][0]) if jstack else {}
    answered = result.requests_per_s * args.seconds
    per_request = {part: (after[part] - before[part]) * 1000 / answered for part in parts}
    per_request["wrk"] = result.client_cpu_share * 2 * args.seconds * 1000 / answered  # share of the 2 cores
    per_request |= {THREAD + group: (ms - threads_before.get(group, 0.0)) / answered
                    for group, ms in threads_after.items()}
    return result.requests_per_s, per_request


def median_split(server: str, runs: list[tuple[float, dict[str, float]]]) -> Split:
    """The median run; a thread group that a run did not have (it was not started yet) counts 0 there."""
    keys = dict.fromkeys(key for _, cpu in runs for key in cpu)
    return Split(server, statistics.median(r for r, _ in runs),
                 {key: statistics.median(cpu.get(key, 0.0) for _, cpu in runs) for key in keys})


def measure(args: argparse.Namespace, work: Path) -> list[Split]:
    """The stack and TorchServe direct, batched, taking turns for `args.repeats` rounds."""
    stack_store, direct_store = work / "stack-store", work / "direct-store"
    build(args.artifacts / args.model, stack_store, "cpu")
    build(args.artifacts / args.model, direct_store, "cpu", BEST)
    signature = json.loads((args.artifacts / args.model / "signature.json").read_text())
    body = json.dumps(example_request(signature)).encode()
    with ExitStack() as running:
        stack = running.enter_context(local_stack(stack_store, work / "stack"))
        direct = running.enter_context(running_torchserve(settings_for(direct_store.resolve(), work / "direct",
                                                                       startup_timeout_s=300)))
        direct_token = read_keys(direct.ts_home).inference
        stack_lua = wrk.script(work, "stack", body, "application/json", None)
        direct_lua = wrk.script(work, "direct", body, "application/json", direct_token)
        stack_url = f"{stack.gateway_url}/v1/models/{args.model}/predict"
        direct_url = f"{direct.inference_url}/predictions/{args.model}"
        gateway = psutil.Process(stack.gateway.pid)
        stack_parts = {"gateway": [gateway, *gateway.children(recursive=True)],
                       **_model_server_parts(stack.model_server, args.model)}
        direct_parts = _model_server_parts(direct, args.model)
        for url, lua in ((stack_url, stack_lua), (direct_url, direct_lua)):  # warm the JIT and the pools
            wrk.run(url, lua, args.connections, args.warmup)
        jstack = find_java_home() / "bin" / "jstack" if args.jvm_threads else None  # found once, not per dump
        runs: dict[str, list[tuple[float, dict[str, float]]]] = {"stack": [], "direct": []}
        for _ in range(args.repeats):
            runs["stack"].append(measured_run(stack_url, stack_lua, args, stack_parts, jstack))
            runs["direct"].append(measured_run(direct_url, direct_lua, args, direct_parts, jstack))
    return [median_split("this stack, v1 (coalescing; TorchServe batchSize 1)", runs["stack"]),
            median_split(f"TorchServe direct, batchSize {BEST['batch_size']} / {BEST['max_batch_delay_ms']} ms",
                         runs["direct"])]


def _model_server_parts(model_server: ModelServerSettings, model: str) -> dict[str, list[psutil.Process]]:
    """TorchServe's JVM and the model's workers."""
    jvm = server_process(ServerPaths.of(model_server))
    if jvm is None:
        raise RuntimeError(f"TorchServe under {model_server.ts_home} is not running")
    return {"jvm": [jvm], "workers": [psutil.Process(pid) for pid in worker_pids(model_server, model)]}


def table(splits: list[Split]) -> str:
    """The markdown table: one row per server, a column per process."""
    def cell(split: Split, part: str) -> str:
        return f"{split.cpu_ms[part]:.3f}" if part in split.cpu_ms else "—"

    lines = ["| server | req/s | gateway ms | JVM ms | workers ms | server total ms | wrk ms |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {s.server} | {s.requests_per_s:.0f} | {cell(s, 'gateway')} | {cell(s, 'jvm')} | "
              f"{cell(s, 'workers')} | {s.total_ms:.3f} | {cell(s, 'wrk')} |" for s in splits]
    return "\n".join(lines)


def threads_table(splits: list[Split], shown: int = 8) -> str:
    """The markdown table of the JVM's CPU ms per request by thread group: the `shown` largest, the rest summed."""
    groups = sorted({key for split in splits for key in split.cpu_ms if key.startswith(THREAD)},
                    key=lambda key: -max(split.cpu_ms.get(key, 0.0) for split in splits))
    head, rest = groups[:shown], groups[shown:]
    lines = ["| JVM thread group | " + " | ".join(split.server for split in splits) + " |",
             "|---" * (len(splits) + 1) + "|"]
    lines += [f"| {key.removeprefix(THREAD)} | " + " | ".join(f"{split.cpu_ms.get(key, 0.0):.4f}" for split in splits)
              + " |" for key in head]
    if rest:
        lines.append(f"| the other {len(rest)} | " + " | ".join(
            f"{sum(split.cpu_ms.get(key, 0.0) for key in rest):.4f}" for split in splits) + " |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m loadtests.cpu_split", description=__doc__.split("\n\n")[0])
    parser.add_argument("--artifacts", type=Path, default=Path("artifacts"), help="the trained models")
    parser.add_argument("--model", default="mlp_classifier")
    parser.add_argument("--jvm-threads", action="store_true",
                        help="split the JVM's CPU by thread group too (jstack, from the Java that serves TorchServe)")
    run_counts.add(parser, warmup_s=20)
    args = parser.parse_args(argv)
    if not (args.artifacts / args.model / "signature.json").is_file():
        parser.exit(2, f"error: {args.artifacts} has no trained {args.model} (make export trains it)\n")
    run_counts.check(parser, args)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cpu-split-") as work:
        splits = measure(args, Path(work))
    print(f"{args.model}, wrk -t2 -c{args.connections}, {args.warmup} s of warm-up, {args.repeats} rounds of "
          f"{args.seconds} s each, medians; CPU ms per request answered")
    print(table(splits))
    if args.jvm_threads:
        print("\nThe JVM's CPU ms per request, by thread group (numbers in thread names folded to N)")
        print(threads_table(splits))
    return 0


if __name__ == "__main__":
    sys.exit(main())
