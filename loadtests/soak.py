"""`python -m loadtests soak` (`make soak`): the mixed load for a long time on a stack of its own, while the
resident memory of the gateway and of every TorchServe worker is sampled. It passes with no failed request
and no process growing more than --max-growth between the end of warm-up and the end of the run."""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import matplotlib
import psutil

from loadtests import bench_report, locust_run
from loadtests.locust_run import LoadSpec
from loadtests.stack import LocalStack, local_stack
from serving.cli import UsageError
from serving.modelserver import read_keys

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

MIB = 1024 * 1024


@dataclass
class MemorySampler:
    """RSS (MiB) of named processes every `interval_s`, on a thread, until stopped."""

    processes: dict[str, psutil.Process]
    interval_s: float
    samples: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    vanished: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._started = time.monotonic()

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic() - self._started
            for name, process in self.processes.items():
                try:
                    rss = process.memory_info().rss / MIB
                except psutil.Error:  # a worker that died (TorchServe restarts it under another pid)
                    self.vanished.add(name)
                    continue
                self.samples.setdefault(name, []).append((now, rss))
            self._stop.wait(self.interval_s)


def processes(stack: LocalStack) -> dict[str, psutil.Process]:
    """The gateway and each model's TorchServe worker(s), as the management API lists them."""
    found = {"gateway": psutil.Process(stack.gateway.pid)}
    keys = read_keys(stack.model_server.ts_home)
    with httpx.Client(base_url=stack.model_server.management_url, headers=keys.management_headers(),
                      timeout=10) as client:
        for entry in client.get("/models?limit=1000").json()["models"]:
            name = entry["modelName"]
            for index, worker in enumerate(client.get(f"/models/{name}").json()[0]["workers"]):
                found[name if index == 0 else f"{name} #{index + 1}"] = psutil.Process(int(worker["pid"]))
    return found


def growth(samples: list[tuple[float, float]], warmup_s: float) -> tuple[float, float, float]:
    """(baseline MiB, final MiB, growth ratio): medians of the first and the last tenth after warm-up, so one
    garbage-collection peak neither hides nor fakes a trend."""
    after = [rss for t, rss in samples if t >= warmup_s]
    if len(after) < 2:
        raise ValueError("too few memory samples after warm-up: run longer or shorten --warmup")
    tenth = max(1, len(after) // 10)
    baseline, final = statistics.median(after[:tenth]), statistics.median(after[-tenth:])
    return baseline, final, final / baseline - 1


def verdict(sampler: MemorySampler, warmup_s: float,
            max_growth: float) -> tuple[dict[str, dict[str, float]], list[str]]:
    """Each process's memory figures, and every breach of the growth limit or process that died."""
    figures, problems = {}, [f"{name} died during the soak" for name in sorted(sampler.vanished)]
    for name, samples in sampler.samples.items():
        baseline, final, ratio = growth(samples, warmup_s)
        figures[name] = {"baseline_mib": round(baseline, 1), "final_mib": round(final, 1),
                         "growth": round(ratio, 4), "peak_mib": round(max(rss for _, rss in samples), 1)}
        if ratio > max_growth:
            problems.append(f"{name}: resident memory grew {ratio:.1%} after warm-up "
                            f"({baseline:.0f} → {final:.0f} MiB; limit {max_growth:.0%})")
    return figures, problems


def plot(sampler: MemorySampler, warmup_s: float, path: Path) -> None:
    """memory.png: RSS over time per process, the warm-up marked."""
    figure, ax = plt.subplots(figsize=(8, 4))
    for name, samples in sampler.samples.items():
        ax.plot([t for t, _ in samples], [rss for _, rss in samples], label=name)
    ax.axvline(warmup_s, color="grey", linestyle=":", label="end of warm-up")
    ax.set(xlabel="seconds", ylabel="resident memory (MiB)", title="Memory during the soak")
    ax.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def markdown(report: dict[str, Any], machine: str) -> str:
    """soak.md: the run, its verdict and each process's memory, for docs/soak.md."""
    verdict = "passed" if not report["problems"] else "FAILED: " + "; ".join(report["problems"])
    rows = [f"| {name} | {m['baseline_mib']:.1f} | {m['final_mib']:.1f} | {m['growth']:+.2%} | {m['peak_mib']:.1f} |"
            for name, m in report["memory"].items()]
    return "\n".join([
        "# Soak", "",
        f"`python -m loadtests soak --duration {report['duration_s']} --users {report['users']}`: the mixed load "
        f"(`loadtests/mix.toml`, v1 and v2) on a stack of its own. Machine: {machine}.", "",
        f"- {report['requests']} requests, {report['failures']} failed, {report['requests_per_s']} req/s on average",
        f"- memory: baseline = median of the first tenth of the samples after a {report['warmup_s']} s warm-up, "
        f"final = median of the last tenth; limit {report['max_growth']:.0%} growth", f"- verdict: {verdict}", "",
        "| process | baseline (MiB) | final (MiB) | growth | peak (MiB) |", "|---|---|---|---|---|", *rows, "",
        "![memory](soak-memory.png)", ""])


def main(args: argparse.Namespace) -> int:
    """Start a stack, load it for --duration while sampling memory, write the reports, judge."""
    warmup = args.warmup if args.warmup is not None else max(10, args.duration // 10)
    if warmup >= args.duration:
        raise UsageError(f"--warmup ({warmup} s) must be shorter than --duration ({args.duration} s)")
    folder = args.reports or Path("reports") / f"soak-{time.strftime('%Y%m%d-%H%M%S')}"
    spec = LoadSpec(args.users, args.spawn_rate, args.duration, "gateway", tuple(args.models), args.mix)
    with (tempfile.TemporaryDirectory(prefix="soak-") as tmp, local_stack(args.store, Path(tmp)) as stack,
          MemorySampler(processes(stack), interval_s=max(1.0, args.duration / 600)) as sampler):
        outcome = locust_run.run(spec, stack.gateway_url, "", folder, slo=None)
    figures, problems = verdict(sampler, warmup, args.max_growth)
    plot(sampler, warmup, folder / "memory.png")
    total = outcome.summary["total"]
    assert isinstance(total, dict)
    report = {"duration_s": args.duration, "users": args.users, "warmup_s": warmup, "max_growth": args.max_growth,
              "requests": total["requests"], "failures": total["failures"], "requests_per_s": total["requests_per_s"],
              "memory": figures, "problems": outcome.violations + problems}
    (folder / "soak.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (folder / "soak.md").write_text(markdown(report, bench_report.machine()), encoding="utf-8")
    print(f"{total['requests']} requests, {total['failures']} failed, {total['requests_per_s']} req/s over "
          f"{args.duration} s; reports in {folder}")
    for name, figure in figures.items():
        print(f"  {name:20s} {figure['baseline_mib']:7.1f} → {figure['final_mib']:7.1f} MiB ({figure['growth']:+.1%})")
    for line in report["problems"]:
        print(f"FAIL {line}")
    return 1 if report["problems"] else 0
