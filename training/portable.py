"""The runtimes beside TorchScript for one trained model: export each into a staging folder, load it back with
the loader the handler uses, check parity with eager at batch 1 and 17, and describe it for signature.json and
metrics.json. The explanation program of an explained model goes the same way, its input gradients checked too.
Nothing reaches the artifact folder unless every export passed."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from handlers import EXPLAINED_KINDS
from handlers import runtimes as loaders
from training.export import CHECK_BATCH_SIZES, PARITY_TOLERANCE, as_tuple, with_batch
from training.exporters import EXPLANATION, ExportError, export

# Parity bar for the exported runtimes: PARITY_TOLERANCE absolute, plus RELATIVE_TOLERANCE of the largest eager
# output. Their kernels sum in another order than eager's; float32 keeps about 7 significant digits, so an output
# in the hundreds (the regression's disease score) differs in its 5th decimal while a probability does not.
# 1e-6 relative is under ten float32 ulps.
RELATIVE_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Runtime:
    """One runtime's file and the platform name the gateway's metadata reports."""

    name: str
    file: str
    platform: str


def tolerance(expected: Sequence[torch.Tensor]) -> float:
    """The parity bar for outputs shaped like `expected`: absolute, widened by their scale."""
    scale = max((float(t.abs().max()) for t in expected if t.numel()), default=0.0)
    return PARITY_TOLERANCE + RELATIVE_TOLERANCE * scale


RUNTIMES = {
    "torchscript": Runtime("torchscript", "model.pt", "pytorch_torchscript"),
    "aoti": Runtime("aoti", "model.pt2", "pytorch_aoti"),
    "onnx": Runtime("onnx", "model.onnx", "onnxruntime_onnx"),
}


def portable_example(example: tuple[torch.Tensor, ...], inputs: Sequence[dict[str, Any]]) -> tuple[torch.Tensor, ...]:
    """The example cut to the exported part's inputs (a fixed size smaller than the example's: the first rows)."""
    cut = []
    for tensor, spec in zip(example, inputs, strict=True):
        for dim, size in enumerate(spec["shape"]):
            if dim and size != -1 and tensor.shape[dim] > size:
                tensor = tensor.narrow(dim, 0, size)
        cut.append(tensor)
    return tuple(cut)


@torch.inference_mode()
def parity(eager: nn.Module, exported: Any, example: tuple[torch.Tensor, ...], name: str) -> tuple[float, float]:
    """Largest absolute difference from eager over batch 1 and 17, and the bar it was held to; ExportError
    (naming the export `name`) above the bar."""
    worst, bar = 0.0, PARITY_TOLERANCE
    for batch in CHECK_BATCH_SIZES:
        inputs = with_batch(example, batch)
        expected, got = as_tuple(eager(*inputs)), as_tuple(exported(*inputs))
        bar = max(bar, tolerance(expected))
        if len(expected) != len(got):
            raise ExportError(f"{name}: {len(got)} outputs, eager has {len(expected)}")
        for a, b in zip(expected, got, strict=True):
            if a.shape != b.shape:
                raise ExportError(f"{name}: output shaped {list(b.shape)} at batch {batch}, "
                                  f"eager {list(a.shape)}")
            worst = max(worst, float((a.float() - b.float()).abs().max()) if a.numel() else 0.0)
    if worst > bar:
        raise ExportError(f"{name} output differs from eager by {worst:.3g} > {bar:.3g}")
    return worst, bar


def gradient_parity(eager: nn.Module, exported: Any, example: tuple[torch.Tensor, ...]) -> tuple[float, float]:
    """Largest absolute difference from eager of the gradients with respect to the float inputs, over batch 1 and
    17, and the bar (as for the outputs, widened by the gradients' scale); ExportError above it. The gradient is
    of a fixed random weighting of the outputs, not of their sum: a softmax's probabilities sum to 1 whatever the
    input, and their sum's gradient is zero."""
    worst, bar = 0.0, PARITY_TOLERANCE
    for batch in CHECK_BATCH_SIZES:
        expected, got = (_input_gradients(module, with_batch(example, batch)) for module in (eager, exported))
        bar = max(bar, tolerance(expected))
        worst = max([worst, *(float((a - b).abs().max()) for a, b in zip(expected, got, strict=True) if a.numel())])
    if worst > bar:
        raise ExportError(f"{EXPLANATION} gradients differ from eager by {worst:.3g} > {bar:.3g}")
    return worst, bar


def _input_gradients(module: Any, example: tuple[torch.Tensor, ...]) -> list[torch.Tensor]:
    with torch.inference_mode(False), torch.enable_grad():
        inputs = tuple(t.clone().requires_grad_(t.is_floating_point()) for t in example)
        outputs = [o for o in as_tuple(module(*inputs)) if o.is_floating_point()]
        weights = torch.Generator().manual_seed(0)
        weighted = torch.stack([(o * torch.randn(o.shape, generator=weights)).sum() for o in outputs]).sum()
        return list(torch.autograd.grad(weighted, [t for t in inputs if t.requires_grad]))


def export_all(names: Sequence[str], module: nn.Module, example: tuple[torch.Tensor, ...],
               inputs: Sequence[dict[str, Any]], outputs: Sequence[dict[str, Any]],
               staging: Path) -> dict[str, dict[str, Any]]:
    """Export and check each named runtime (TorchScript excepted: training/export.py does it) into `staging`;
    per runtime its parity, the bar it met (1e-5 + 1e-6 × the largest output), export time and file size,
    for metrics.json."""
    module = module.eval()
    cut = portable_example(example, inputs)
    results: dict[str, dict[str, Any]] = {}
    for name in names:
        if name == "torchscript":
            continue
        runtime = RUNTIMES[name]
        target = staging / runtime.file
        started = time.perf_counter()
        export(name, module, cut, inputs, outputs, target)
        seconds = time.perf_counter() - started
        worst, bar = parity(module, loaders.load(name, target, torch.device("cpu")), cut, name)
        results[name] = {"parity_max_abs_diff": worst, "tolerance": bar,
                         "export_seconds": round(seconds, 2), "file_bytes": target.stat().st_size}
    return results


def needs_explanation(kind: str, runtimes: Sequence[str]) -> bool:
    """Whether a model of `kind` exported to `runtimes` needs an explanation program: its kind explains its
    predictions, and one of the runtimes computes no gradients (TorchScript explains by itself)."""
    return kind in EXPLAINED_KINDS and not set(runtimes) <= loaders.GRADIENT_RUNTIMES


def export_explanation(module: nn.Module, example: tuple[torch.Tensor, ...], inputs: Sequence[dict[str, Any]],
                       staging: Path) -> dict[str, Any]:
    """Export the explanation program into `staging` and check it, loaded as the handler loads it, against eager:
    its outputs and its input gradients at batch 1 and 17. What metrics.json records of it."""
    module = module.eval()
    target = staging / loaders.PROGRAM_FILE
    started = time.perf_counter()
    export(EXPLANATION, module, example, inputs, [], target)
    seconds = time.perf_counter() - started
    program = loaders.load_program(target, torch.device("cpu"))
    worst, bar = parity(module, program, example, EXPLANATION)
    slope, slope_bar = gradient_parity(module, program, example)
    return {"parity_max_abs_diff": worst, "tolerance": bar, "gradient_max_abs_diff": slope,
            "gradient_tolerance": slope_bar, "export_seconds": round(seconds, 2), "file_bytes": target.stat().st_size}


EXPLANATION_ENTRY = {"file": loaders.PROGRAM_FILE, "format": loaders.PROGRAM_FORMAT}  # signature.json's `explanation`


def describe(names: Sequence[str], inputs: Sequence[dict[str, Any]], portable: Sequence[dict[str, Any]],
             default: str) -> dict[str, Any]:
    """signature.json's `runtimes` (file, platform and, where narrower, the exported inputs) and the default."""
    described = {}
    for name in names:
        runtime = RUNTIMES[name]
        entry: dict[str, Any] = {"file": runtime.file, "platform": runtime.platform}
        if name != "torchscript" and list(portable) != list(inputs):
            entry["inputs"] = list(portable)
        described[name] = entry
    return {"runtimes": described, "default_runtime": default}
