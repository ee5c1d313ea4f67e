"""docs/runtimes.md and docs/runtimes.png from `python -m loadtests runtimes`: one table row per model and
runtime, the fastest runtime per model (what the registry's defaults follow), the machine and the GPU section."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from loadtests.bench_report import load_average, machine  # noqa: E402

if TYPE_CHECKING:
    from pathlib import Path

    from loadtests.runtimes import Figures, Results

GPU_NOTE = ("No GPU was lent to the run that wrote this page, so it has no GPU section: AOTInductor for CUDA "
            "and ONNX Runtime's CUDA execution provider (`cnn_digits`, `transfer_cnn`) are unmeasured. The ONNX "
            "loader picks the CUDA provider when a worker is given a GPU and onnxruntime has it; model.pt2 is "
            "compiled for the CPU only.")

# What lets the explained models follow their picks: the explanation program (docs/runtimes.md, "Defaults").
EXPLANATIONS_NOTE = ("The explained models (regression, tabular and image classifiers) explain their predictions with "
                     "Integrated Gradients (`POST /v1/models/{name}/explain`, the playground's heatmaps), which needs "
                     "autograd; ONNX Runtime's session and AOTInductor's compiled graph compute forward passes only. "
                     "So their artifacts also hold an explanation program, `model.explain.pt2`: `torch.export`'s "
                     "program of the eager module (batch dimension dynamic), saved with `torch.export.save` "
                     "(training/exporters.py), checked against eager at batch 1 and 17 in its outputs and its input "
                     "gradients, and recorded in metrics.json's `explanation`. Loaded with "
                     "`torch.export.load(path).module()` it is an ordinary differentiable module, so it needs no "
                     "TorchScript. An archive on ONNX Runtime or AOTInductor carries it beside model.onnx or model.pt2 "
                     "(signature.json's `explanation`, model-config.yaml's `handler.explanation`); the handler "
                     "predicts with the runtime and explains with the program (`handlers/base.py`, "
                     "`differentiable()`), which it loads on the first explanation: loading imports torch.export's "
                     "deserializer, measured at about 2 s and 150 MiB per worker, which only workers that explain "
                     "should pay. A TorchScript archive carries no program: its module has the gradients. An archive "
                     "built from an artifact without a program still answers explanations with 409 and says how to get "
                     "one: `python -m training train --missing` re-exports it from model.pt without retraining "
                     "(training/explanation.py) and `make archive` packs it.")


def fastest(runtimes: dict[str, Figures], connections: int) -> str:
    """The runtime with the most requests per second through the stack at `connections`."""
    return max(runtimes, key=lambda r: runtimes[r].stack[connections].requests_per_s if connections in
               runtimes[r].stack else 0.0)


# Among runtimes within the noise of the fastest, the default goes to the first in this order: TorchScript last
# (deprecated), AOTInductor after ONNX Runtime (a worker's first load of model.pt2 imports Inductor).
PREFERENCE = ("onnx", "aoti", "torchscript")


def default_pick(runtimes: dict[str, Figures], connections: int) -> str:
    """The runtime a model's default follows: the fastest through the stack at `connections`, or one that comes
    before it in PREFERENCE and whose best run reached the fastest's worst (the two are within the noise)."""
    best = fastest(runtimes, connections)
    if connections not in runtimes[best].stack:
        return best
    floor = _spread(runtimes[best], connections)[0]
    close = [r for r in runtimes if connections in runtimes[r].stack and _spread(runtimes[r], connections)[1] >= floor]
    return min(close, key=lambda r: PREFERENCE.index(r) if r in PREFERENCE else len(PREFERENCE))


def _spread(f: Figures, connections: int) -> tuple[float, float]:
    median = f.stack[connections].requests_per_s
    return f.stack_spread.get(connections) or (median, median)


def _stack_cell(f: Figures, connections: int) -> str:
    """Median req/s, its runs' lowest–highest, and the median p50."""
    if connections not in f.stack:
        return "—"
    median = f.stack[connections]
    low, high = _spread(f, connections)
    return f"{median.requests_per_s:.0f} [{low:.0f}–{high:.0f}] ({median.p50_ms:.1f})"


def markdown(results: Results, args: argparse.Namespace, seconds: float, imports: dict[str, float]) -> str:
    """The page."""
    batches, connections = list(args.batches), list(args.connections)
    head = (["model", "runtime"] + [f"in-process b{b} req/s" for b in batches]
            + [f"stack c{c} req/s [runs] (p50 ms)" for c in connections]
            + ["start s", "file MiB", "worker PSS MiB"])
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for model, runtimes in results.items():
        for runtime, f in runtimes.items():
            cells = [f"`{model}`", runtime]
            cells += [f"{f.batches[b].requests_per_s:.0f}" for b in batches]
            cells += [_stack_cell(f, c) for c in connections]
            cells += [f"{f.start_s:.2f}", f"{f.file_bytes / 2**20:.2f}", f"{f.pss_bytes / 2**20:.0f}"]
            rows.append("| " + " | ".join(cells) + " |")
    top = max(connections)
    imports_line = ", ".join(f"{runtime} {imports[runtime]:.1f} s" for runtime in sorted(imports))
    picks = "\n".join(f"- `{model}`: **{default_pick(runtimes, top)}** (fastest: {fastest(runtimes, top)})"
                      for model, runtimes in results.items())
    return f"""# Runtimes: TorchScript, AOTInductor, ONNX Runtime

Written by `python -m loadtests runtimes` (the whole run took {seconds:.0f} s). Each model on each runtime it
was exported to (training/portable.py; parity with eager in each artifact's metrics.json):

- **in-process**: the model's handler called in one process, a batch of N identical example requests per
  call, one torch and one ONNX Runtime intra-op thread (as every worker runs), {args.seconds} s per figure;
- **stack**: TorchServe and the gateway serving every model on that runtime, wrk on the gateway's
  `/v1/models/<name>/predict` at 1 and {top} connections: the three stacks up at once, taking turns run by
  run, {args.repeats} runs of {args.seconds} s each, the median shown with the lowest and highest run in brackets
  (the noise a default is judged against);
- **start**: the handler's initialize (load the file, warm up at batch 1 and {max(batches)});
  **file**: the model file the archive carries; **PSS**: the model's TorchServe worker once loaded. A worker's
  first load also imports its runtime, once per process: {imports_line}.

Machine: {machine()}; {load_average()}. Compare the rows of one model with each other (they were measured
side by side), not with figures taken on another machine or at another time.

{chr(10).join(rows)}

![throughput per runtime](runtimes.png)

## Defaults

Per model, the candidate for its `default_runtime` in training/curriculum.py: the fastest runtime through the
stack at {top} connections, or, within its noise (a best run that reached the fastest's worst), the first of
{", ".join(PREFERENCE)} (TorchScript last: it is deprecated; AOTInductor after ONNX Runtime: a worker's first
load of model.pt2 imports Inductor). A default changes there once the whole suite has run on it; `python -m
serving.archive --runtime …` picks another for one build:

{picks}

{EXPLANATIONS_NOTE}

## GPU

{GPU_NOTE}
"""


def plot(results: Results, path: Path) -> None:
    """Two panels: in-process throughput at batch 1, and through the stack at the most connections."""
    models = list(results)
    runtimes = sorted({r for per in results.values() for r in per})
    fig, axes = plt.subplots(1, 2, figsize=(12, 4), squeeze=False)
    width = 0.8 / max(1, len(runtimes))
    for panel, (title, value) in enumerate((
            ("in-process, batch 1 (req/s)", lambda f: f.batches[min(f.batches)].requests_per_s),
            ("through the stack, most connections (req/s)",
             lambda f: f.stack[max(f.stack)].requests_per_s if f.stack else 0.0))):
        ax = axes[0][panel]
        for i, runtime in enumerate(runtimes):
            heights = [value(results[m][runtime]) if runtime in results[m] else 0.0 for m in models]
            ax.bar([x + i * width for x in range(len(models))], heights, width, label=runtime)
        ax.set_xticks([x + width * (len(runtimes) - 1) / 2 for x in range(len(models))], models, rotation=30,
                      ha="right", fontsize=8)
        ax.set_title(title)
        ax.set_yscale("log")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
