"""Registering a new nn.Module is enough to train and export it: the pipeline itself is untouched."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from training import export, registry
from training.pipeline import RunOptions, train_and_export
from training.recipes import tabular as tabular_recipes
from training.registry import Floor, Kind, ModelCard, ModelSpec, TensorSpec


class TinyNet(nn.Module):
    """A user's own module: standardized features → class logits."""

    def __init__(self, n_features: int, n_classes: int) -> None:
        super().__init__()
        self.layer = nn.Linear(n_features, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(torch.tanh(x))


def build_tiny(dims: Mapping[str, int], hp: Mapping[str, Any]) -> nn.Module:
    return TinyNet(dims["n_features"], dims["n_classes"])


@pytest.fixture
def toy_spec() -> Iterator[ModelSpec]:
    spec = registry.register(ModelSpec(
        name="toy_wine",
        kind=Kind.TABULAR_CLASSIFICATION,
        dataset="wine",
        summary="A user's own wine classifier.",
        chapter="Bring your own model",
        build=build_tiny,
        recipe=tabular_recipes.classification,
        inputs=(TensorSpec("features", "float32", (-1, "n_features")),),
        outputs=(TensorSpec("probabilities", "float32", (-1, "n_classes")),),
        floor=Floor("accuracy", 0.9, higher_is_better=True, description="accuracy ≥ 0.9"),
        hparams={"epochs": 30, "batch_size": 16, "lr": 0.05, "weight_decay": 0.0},
        card=ModelCard("Testing the extension point.", "None worth stating.", "None."),
    ))
    yield spec
    registry.unregister(spec.name)


def test_registered_module_trains_exports_and_describes_itself(toy_spec: ModelSpec, tmp_path: Path) -> None:
    assert "toy_wine" in registry.names()
    # ONNX beside TorchScript (AOTInductor's compile is tested on the curriculum's own models)
    metrics = train_and_export("toy_wine", RunOptions(progress=False, artifacts_dir=tmp_path, runtimes=("onnx",)))
    assert metrics["passed"] is True
    assert metrics["runtimes"]["onnx"]["parity_max_abs_diff"] <= metrics["runtimes"]["onnx"]["tolerance"]
    folder = tmp_path / "toy_wine"
    signature = json.loads((folder / "signature.json").read_text())
    assert sorted(signature["runtimes"]) == ["onnx", "torchscript"]
    assert (folder / "model.onnx").is_file()
    # a classifier explains; ONNX Runtime has no gradients, so the program comes with it, checked as the curriculum's
    assert signature["explanation"] == {"file": "model.explain.pt2", "format": "torch.export"}
    assert metrics["explanation"]["gradient_max_abs_diff"] <= metrics["explanation"]["gradient_tolerance"]
    assert signature["inputs"] == [{"name": "features", "dtype": "float32", "shape": [-1, 13]}]
    assert signature["outputs"] == [{"name": "probabilities", "dtype": "float32", "shape": [-1, 3]}]
    with export.torchscript_deprecation_silenced():
        module = torch.jit.load(str(folder / "model.pt"))
    assert module(torch.rand(17, 13) * 100).shape == (17, 3)


def test_registering_a_taken_name_is_refused(toy_spec: ModelSpec) -> None:
    with pytest.raises(ValueError, match="already registered"):
        registry.register(toy_spec)
