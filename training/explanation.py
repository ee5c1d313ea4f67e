"""The explanation program for an artifact exported before it had one, without retraining: model.pt's weights
loaded into the eager module's layers (the registry's `skeleton`), checked against model.pt, then exported and
checked as training exports it (training/portable.py). `python -m training train --missing` does it for every
up-to-date artifact that lacks its program, so `make archive` and the tests' artifacts get it too."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from handlers import runtimes
from training import artifacts, portable
from training.export import check_parity, torchscript_deprecation_silenced
from training.exporters import ExportError
from training.registry import ModelSpec

SOURCE = "model.pt"  # metrics.json's `explanation.source` for a program re-exported from the TorchScript file
EXAMPLE_ROWS = 17
NOISE = 0.1  # the example rows beyond the first: the example scaled by 1 ± 10% (seeded), so that rows differ


def missing(folder: Path, spec: ModelSpec) -> bool:
    """Whether the artifact in `folder` should carry an explanation program and does not."""
    signature = artifacts.read_json(folder / artifacts.SIGNATURE_FILE)
    has = "explanation" in signature and (folder / signature["explanation"]["file"]).is_file()
    return not has and portable.needs_explanation(spec.kind, list(signature.get("runtimes") or ["torchscript"]))


def add_missing(folder: Path, spec: ModelSpec) -> bool:
    """Re-export the explanation program where `missing` says so; True when it did. ExportError (one line)
    when it cannot, the artifact left as it was."""
    if not missing(folder, spec):
        return False
    add(folder, spec)
    return True


def add(folder: Path, spec: ModelSpec) -> dict[str, Any]:
    """Export the explanation program from the artifact's model.pt into `folder` and name it in signature.json,
    metrics.json and the model card; what metrics.json records of it. The program file is in place before
    signature.json names it, so the artifact is never described as having a file it lacks."""
    signature = artifacts.read_json(folder / artifacts.SIGNATURE_FILE)
    metrics = artifacts.read_json(folder / artifacts.METRICS_FILE)
    example = example_rows(signature)
    module = restore(folder, spec, signature, metrics, example)
    with tempfile.TemporaryDirectory(prefix=f".explain-{spec.name}-", dir=folder.parent) as staging:
        checked = portable.export_explanation(module, example, signature["inputs"], Path(staging))
        (Path(staging) / runtimes.PROGRAM_FILE).replace(folder / runtimes.PROGRAM_FILE)
    metrics["explanation"] = {**checked, "source": SOURCE}
    artifacts.describe(folder, spec, {**signature, "explanation": dict(portable.EXPLANATION_ENTRY)}, metrics)
    return dict(metrics["explanation"])


def restore(folder: Path, spec: ModelSpec, signature: Mapping[str, Any], metrics: Mapping[str, Any],
            example: tuple[torch.Tensor, ...]) -> nn.Module:
    """The eager module of the artifact: the registry's skeleton with model.pt's weights (every one, nothing
    left over), in eval mode, and within the TorchScript parity bar of model.pt on `example`."""
    if spec.skeleton is None:
        raise ExportError(f"{spec.name}: the registry names no skeleton to load model.pt's weights into; retrain "
                          f"it (python -m training train {spec.name})")
    module = spec.skeleton(spec, dims(spec, signature), metrics["hparams"]).eval()
    with torchscript_deprecation_silenced():
        scripted = torch.jit.load(str(folder / artifacts.MODEL_FILE), map_location="cpu")
    try:
        module.load_state_dict(scripted.state_dict())
        check_parity(module, scripted, example)
    except (RuntimeError, AssertionError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise ExportError(f"{spec.name}: model.pt does not load into the registry's layers: {first}") from exc
    return module


def dims(spec: ModelSpec, signature: Mapping[str, Any]) -> dict[str, int]:
    """The named dimensions of the spec's tensors, read back from the sizes the signature resolved them to."""
    found: dict[str, int] = {}
    for tensor, resolved in zip((*spec.inputs, *spec.outputs), (*signature["inputs"], *signature["outputs"]),
                                strict=True):
        found.update({d: int(size) for d, size in zip(tensor.shape, resolved["shape"], strict=True)
                      if isinstance(d, str)})
    return found


def example_rows(signature: Mapping[str, Any]) -> tuple[torch.Tensor, ...]:
    """EXAMPLE_ROWS rows per input from the signature's example request: the example itself, then copies of it
    scaled by seeded noise, so that the rows differ but keep the inputs' scale (pixels, raw measurements)."""
    noise = torch.Generator().manual_seed(0)
    rows = []
    for spec in signature["inputs"]:
        one = torch.tensor(signature["example"][spec["name"]], dtype=getattr(torch, spec["dtype"])).unsqueeze(0)
        if one.dim() != len(spec["shape"]):
            raise ExportError(f"the example's {spec['name']!r} is shaped {list(one.shape[1:])}, the signature "
                              f"says {spec['shape'][1:]}")
        scale = 1 + NOISE * torch.randn((EXAMPLE_ROWS - 1, *one.shape[1:]), generator=noise)
        rows.append(torch.cat([one, one * scale]) if one.is_floating_point()
                    else one.repeat_interleave(EXAMPLE_ROWS, 0))
    return tuple(rows)
