"""The contract between the pipeline and a recipe: a context in, a `TrainResult` out."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import torch
from torch import nn

if TYPE_CHECKING:
    from training.registry import ModelSpec


@dataclass
class RecipeContext:
    """What a recipe may use: its spec, resolved hyperparameters, device, seed and where data lives."""

    spec: ModelSpec
    hparams: Mapping[str, Any]
    device: torch.device
    seed: int
    artifacts_dir: Path
    data_dir: Path | None = None
    dataset: str | None = None
    progress: bool = True
    holdout: str = "test"

    @property
    def dataset_name(self) -> str:
        """The dataset to train on: the spec's, unless the CLI chose a local one."""
        return self.dataset or self.spec.dataset


@dataclass
class TrainResult:
    """A trained model ready for export.

    `module` is the eager module to export, preprocessing included, in eval mode on the CPU.
    `example_inputs` is a held-out batch in the order of the spec's inputs, used for the parity check.
    `dims` resolves the named dimensions of the spec's tensors; `extra` goes into signature.json as is.
    """

    module: nn.Module
    example_inputs: tuple[torch.Tensor, ...]
    metrics: dict[str, float]
    history: dict[str, list[float]]
    dims: dict[str, int] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    trace: bool = False


class Recipe(Protocol):
    """A training procedure shared by the models of one family."""

    def __call__(self, ctx: RecipeContext) -> TrainResult: ...


ProgressFn = Callable[[int], None]
