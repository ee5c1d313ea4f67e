"""docs/benchmarks.md and its plot from the benchmark's medians: the table per model, the ratios the issue's
targets are stated in, and the machine they were measured on."""

from __future__ import annotations

import argparse
import os
import platform
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from loadtests.wrk import WrkResult  # noqa: E402

WAYS = ("in-process", "torchserve", "gateway", "gateway-v2")
BEGIN, END = "<!-- measured: written by python -m loadtests bench -->", "<!-- end measured -->"
Results = dict[str, dict[str, dict[int, WrkResult]]]


def machine() -> str:
    """The machine in one line."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{os.cpu_count()} CPU cores ({cpu}, {platform.machine()}), Python {platform.python_version()}, "
            f"{platform.system()} {platform.release()}")


def load_average() -> str:
    """The machine's load averages as the report is written: the share of the cores that other work took shows
    here (the benchmark's own processes included)."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} (1, 5, 15 min) as the report was written"


def targets(results: Results) -> list[str]:
    """The issue's targets, each with the measured figure and a verdict."""
    lines = []
    for model, ways in results.items():
        ts, gw = ways["torchserve"], ways["gateway"]
        if 1 in gw:
            added = gw[1].p50_ms - ts[1].p50_ms
            lines.append(_verdict(f"`{model}` added p50 at 1 connection ≤ 1.0 ms", f"{added:+.2f} ms", added <= 1.0))
        if 16 in gw:
            ratio = gw[16].requests_per_s / ts[16].requests_per_s
            lines.append(_verdict(f"`{model}` gateway / TorchServe throughput at 16 connections ≥ 0.9",
                                  f"{ratio:.2f}", ratio >= 0.9))
    return lines


def _verdict(goal: str, figure: str, met: bool) -> str:
    return f"- {'met' if met else 'NOT met'}: {goal} — measured {figure}"


def markdown(results: Results, args: argparse.Namespace, seconds: float) -> str:
    """The measured block of docs/benchmarks.md."""
    out = ["## Measured", "",
           f"`python -m loadtests bench`: {args.seconds} s per run, median of {args.repeats} interleaved runs, "
           f"{seconds / 60:.0f} min in all. Machine: {machine()}. TorchServe, the gateway, the peers and wrk share "
           "these cores. In-process: the model's handler called in the benchmark's process with the N requests as "
           "one batch (no network, no queue). The client's CPU share is wrk's CPU time over wall time.", ""]
    for model, ways in results.items():
        out += [f"### `{model}`", "",
                "| conn | " + " | ".join(f"{w} req/s · p50 · p99 (ms)" for w in WAYS) +
                " | gateway/TorchServe | gateway/in-process | errors | wrk CPU |",
                "|---" * (len(WAYS) + 5) + "|"]
        for conn in sorted(ways["gateway"]):
            cells = [f"{ways[w][conn].requests_per_s:.0f} · {ways[w][conn].p50_ms:.2f} · {ways[w][conn].p99_ms:.1f}"
                     + (f" · **{ways[w][conn].errors} errors**" if ways[w][conn].errors else "") for w in WAYS]
            gw = ways["gateway"][conn].requests_per_s
            ratios = [f"{gw / ways[w][conn].requests_per_s:.2f}" for w in ("torchserve", "in-process")]
            errors = sum(ways[w][conn].errors for w in WAYS)
            cpu = max(ways[w][conn].client_cpu_share for w in WAYS[1:])
            out.append(f"| {conn} | " + " | ".join(cells + ratios) + f" | {errors} | {cpu:.0%} |")
        out.append("")
    out += ["### Targets (issue #5)", "", *targets(results), ""]
    return "\n".join(out)


def merge(existing: str, measured: str, begin: str = BEGIN, end: str = END) -> str:
    """Replace the measured block, keeping what people wrote around it (the history of what moved which figure)."""
    block = f"{begin}\n{measured}{end}\n"
    if begin in existing and end in existing:
        before, rest = existing.split(begin, 1)
        return before + block + rest.split(end, 1)[1].removeprefix("\n")
    return existing + ("\n" if existing else "") + block


def plot(results: Results, path: Path) -> None:
    """Requests/s against connections, one panel per model, one line per way of serving."""
    figure, axes = plt.subplots(1, len(results), figsize=(5 * len(results), 4), squeeze=False)
    for ax, (model, ways) in zip(axes[0], results.items(), strict=True):
        for way in WAYS:
            conns = sorted(ways[way])
            ax.plot(conns, [ways[way][c].requests_per_s for c in conns], marker="o", label=way)
        ax.set(xscale="log", xlabel="concurrent connections", ylabel="requests/s", title=model)
        ax.set_xticks(sorted(ways["gateway"]), [str(c) for c in sorted(ways["gateway"])])
        ax.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
