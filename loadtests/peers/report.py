"""The peers' part of docs/benchmarks.md and its chart: each peer route beside the stack's two routes, per model
and connection count, with the servers' footprints, the modes tried, and the targets of the peers issue."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from loadtests.peers.compare import PeerRun  # noqa: E402
from loadtests.stack_memory import StackMemory  # noqa: E402
from loadtests.wrk import WrkResult  # noqa: E402

STACK = {"gateway": "this stack v1", "gateway-v2": "this stack v2"}
Results = dict[str, dict[str, dict[int, WrkResult]]]


def _cell(result: WrkResult) -> str:
    errors = f" · **{result.errors} errors**" if result.errors else ""
    return f"{result.requests_per_s:.0f} · {result.p50_ms:.2f} · {result.p99_ms:.1f}{errors}"


def _mode(run: PeerRun) -> str:
    if len(run.mode_trials) < 2:
        return run.mode
    tried = ", ".join(f"{mode} {rps:.0f}" for mode, rps in run.mode_trials.items())
    return f"**{run.mode}** ({tried} req/s)"


def table(model: str, ways: dict[str, dict[int, WrkResult]], runs: list[PeerRun], memory: StackMemory,
          stack_ready_s: float) -> list[str]:
    """One model's table: a row per peer route and per stack route."""
    conns = sorted(ways["gateway"])
    out = [f"### `{model}`: the stack and its peers", "",
           "| server | mode (req/s at the trial) | " + " | ".join(f"{c} conn: req/s · p50 · p99 (ms)" for c in conns)
           + " | PSS (MiB) | processes | ready (s) | wrk CPU |", "|---" * (len(conns) + 6) + "|"]
    for run in runs:
        cpu = max(r.client_cpu_share for r in run.results.values())
        out.append(f"| {run.title} {run.route} | {_mode(run)} | " + " | ".join(_cell(run.results[c]) for c in conns)
                   + f" | {run.pss_mib:.0f} | {run.processes} | {run.ready_s:.1f} | {cpu:.0%} |")
    for way, name in STACK.items():
        cpu = max(r.client_cpu_share for r in ways[way].values())
        out.append(f"| {name} | coalescing | " + " | ".join(_cell(ways[way][c]) for c in conns)
                   + f" | {memory.total_mib:.0f} | {memory.processes} | {stack_ready_s:.1f} | {cpu:.0%} |")
    workers = ", ".join(f"{w:.0f}" for w in memory.workers_mib)
    out += ["", f"The stack's memory for `{model}`: gateway {memory.gateway_mib:.0f} MiB, TorchServe's JVM "
            f"{memory.jvm_mib:.0f} MiB, its workers {workers} MiB (PSS).", ""]
    return out


def targets(results: Results, peers: dict[str, list[PeerRun]]) -> list[str]:
    """At 16 and 64 connections, each stack route against the best peer: ≥ 1.5× its req/s, p99 ≤ its p99."""
    lines = []
    for model, runs in peers.items():
        for conn in (16, 64):
            measured = [run for run in runs if conn in run.results]
            if not measured or conn not in results[model]["gateway"]:
                continue
            best = max(measured, key=lambda run: run.results[conn].requests_per_s)
            peer = best.results[conn]
            for way, name in STACK.items():
                ours = results[model][way][conn]
                ratio = ours.requests_per_s / peer.requests_per_s
                met = ratio >= 1.5 and ours.p99_ms <= peer.p99_ms
                lines.append(f"- {'met' if met else 'NOT met'}: `{model}` {name} / best peer ({best.title} "
                             f"{best.route}, {best.mode}) at {conn} connections ≥ 1.5×, p99 ≤ its — measured "
                             f"{ratio:.2f}×, p99 {ours.p99_ms:.1f} vs {peer.p99_ms:.1f} ms")
    return lines


def markdown(results: Results, peers: dict[str, list[PeerRun]], memory: dict[str, StackMemory],
             stack_ready_s: float) -> str:
    """The peers' block: the tables, then the targets. Empty when no peer ran."""
    if not any(peers.values()):
        return ""
    out = ["## The stack against its peers", "",
           "Each peer serves the model's TorchScript file with its own idiomatic API (loadtests/peers/apps/), one "
           "worker or replica, one torch thread, in its own venv; the better of its plain and its batching mode "
           "(each tried first for one run at 16 connections, or at the run's most where it has no 16) is loaded. "
           "JSON peers get `{\"instances\": rows}` of the model's input tensor, v2 peers the same tensor as an "
           "Open Inference Protocol v2 body; the stack gets its own v1 and "
           "v2 bodies (an image as a PNG). PSS is summed over every process of the server after its runs; ready is "
           "the time from its start to its first correct answer (the stack's: TorchServe with every archive of the "
           "store, then the gateway).", ""]
    for model, runs in peers.items():
        if runs:
            out += table(model, results[model], runs, memory[model], stack_ready_s)
    verdicts = targets(results, peers) or ["- none judged: the run had neither 16 nor 64 connections"]
    out += ["### Targets (the peers issue)", "", *verdicts, ""]
    return "\n".join(out)


def plot(results: Results, peers: dict[str, list[PeerRun]], path: Path) -> None:
    """Requests/s against connections, one panel per model, one line per peer route and stack route."""
    models = [model for model, runs in peers.items() if runs]
    figure, axes = plt.subplots(1, len(models), figsize=(6 * len(models), 4.5), squeeze=False)
    for ax, model in zip(axes[0], models, strict=True):
        lines = {f"{run.title} {run.route}": run.results for run in peers[model]}
        lines |= {name: results[model][way] for way, name in STACK.items()}
        for label, by_conn in lines.items():
            conns = sorted(by_conn)
            ax.plot(conns, [by_conn[c].requests_per_s for c in conns], marker="o", label=label,
                    linewidth=2.5 if label in STACK.values() else 1.2)
        ax.set(xscale="log", xlabel="concurrent connections", ylabel="requests/s", title=model)
        ax.set_xticks(conns, [str(c) for c in conns])
        ax.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
