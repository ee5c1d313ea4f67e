"""Train one registered model, export it to TorchScript, check it and write its artifact folder."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from training import artifacts, export, portable, registry, runtime
from training.recipes.base import RecipeContext

DEFAULT_ARTIFACTS = Path("artifacts")
DEFAULT_SEED = 0


@dataclass(frozen=True)
class RunOptions:
    """How to run the pipeline; the CLI's flags, typed."""

    profile: str = "quick"
    device: str = "auto"
    seed: int = DEFAULT_SEED
    artifacts_dir: Path = DEFAULT_ARTIFACTS
    data_dir: Path | None = None
    dataset: str | None = None
    progress: bool = True
    version: str | None = None  # the artifacts' version (None: the registry's); `train --version`
    # The runtimes to export (None: every one the registry lists for the model). Tuning and the determinism
    # tests retrain many times and need only TorchScript; AOTInductor's compile is the slow step.
    runtimes: tuple[str, ...] | None = None


def train_and_export(name: str, options: RunOptions, overrides: dict[str, Any] | None = None,
                     *, holdout: str = "test", folder: Path | None = None) -> dict[str, Any]:
    """The whole path for one model; returns what metrics.json holds.

    `holdout="validation"` scores on a split carved from the training data (for tuning, so the test split
    never picks hyperparameters); `folder` overrides where the artifacts go (default artifacts/<model>)."""
    spec = registry.get(name)
    hparams = spec.hparams_for(options.profile, overrides)
    device = runtime.pick_device(options.device)
    runtime.seed_everything(options.seed)
    ctx = RecipeContext(spec, hparams, device, options.seed, options.artifacts_dir, options.data_dir,
                        options.dataset, options.progress, holdout)
    started = time.perf_counter()
    result = spec.recipe(ctx)
    seconds = time.perf_counter() - started

    example = result.extra.get("example") or {
        t.name: result.example_inputs[i][0].tolist() for i, t in enumerate(spec.inputs)
    }
    signature = artifacts.build_signature(spec, result.dims, {**result.extra, "example": example},
                                         options.version)
    scripted = export.to_torchscript(result.module, result.example_inputs, trace=result.trace)
    parity = export.check_parity(result.module, scripted, result.example_inputs)
    export.check_signature(scripted, result.example_inputs, signature["inputs"], signature["outputs"])

    achieved = float(result.metrics[spec.floor.metric])
    on_default_data = (options.dataset or spec.dataset) == spec.dataset
    metrics = {
        "model": spec.name,
        "profile": options.profile,
        "seed": options.seed,
        "device": str(device),
        "hparams": dict(sorted(hparams.items())),
        "metrics": {k: round(float(v), 6) for k, v in sorted(result.metrics.items())},
        "floor": {"metric": spec.floor.metric, "threshold": spec.floor.threshold,
                  "higher_is_better": spec.floor.higher_is_better, "description": spec.floor.description,
                  "applies": on_default_data},
        "achieved": round(achieved, 6),
        "passed": spec.floor.holds(achieved),
        "parity_max_abs_diff": parity,
        "holdout": holdout,
        "train_seconds": round(seconds, 2),
        "torch": torch.__version__,
    }
    target = folder or options.artifacts_dir / spec.name
    target.parent.mkdir(parents=True, exist_ok=True)
    names = [r for r in spec.runtimes if options.runtimes is None or r in options.runtimes or r == "torchscript"]
    with tempfile.TemporaryDirectory(prefix=f".export-{spec.name}-", dir=target.parent) as staging:
        exported = portable.export_all(names, result.module, result.example_inputs,
                                       _portable_inputs(spec, result.dims, signature), signature["outputs"],
                                       Path(staging))
        default = spec.default_runtime if spec.default_runtime in names else "torchscript"
        signature.update(portable.describe(names, signature["inputs"],
                                           _portable_inputs(spec, result.dims, signature), default))
        metrics["runtimes"] = {"torchscript": {"parity_max_abs_diff": parity, "tolerance": export.PARITY_TOLERANCE},
                               **exported}
        staged = [Path(staging) / portable.RUNTIMES[name].file for name in exported]
        if portable.needs_explanation(spec.kind, names):
            # the whole eager module, as explanations call it (never a narrower exported step)
            metrics["explanation"] = portable.export_explanation(result.module, result.example_inputs,
                                                                 signature["inputs"], Path(staging))
            signature["explanation"] = dict(portable.EXPLANATION_ENTRY)
            staged.append(Path(staging) / portable.EXPLANATION_ENTRY["file"])
        artifacts.write(target, spec, scripted, signature, metrics, result.history, staged=staged)
    return metrics


def _portable_inputs(spec: registry.ModelSpec, dims: dict[str, int], signature: dict[str, Any]) -> list[Any]:
    """The resolved inputs of the torch.export'ed part: the spec's narrower ones, else the signature's."""
    return [t.resolve(dims) for t in spec.portable_inputs] or list(signature["inputs"])


def train_order(names: list[str]) -> list[str]:
    """The models to train, with each one's dependencies (e.g. the GAN's judge) placed before it."""
    ordered: list[str] = []

    def visit(name: str) -> None:
        for dep in registry.get(name).requires:
            visit(dep)
        if name not in ordered:
            ordered.append(name)

    for name in names:
        visit(name)
    return ordered
