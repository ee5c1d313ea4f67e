"""The exports beside TorchScript (training/exporters.py, training/portable.py): dynamic shapes from the signature,
the parity bar, one-line errors and no half-written files. ONNX only here (seconds); AOTInductor compiles run
once per curriculum model at training and in tests/unit/handlers/test_runtimes.py."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from torch import nn

from training import artifacts, exporters, portable, registry
from training.registry import TensorSpec

FEATURES = [{"name": "features", "dtype": "float32", "shape": [-1, 3]}]
PREDICTION = [{"name": "prediction", "dtype": "float32", "shape": [-1]}]


class Scaled(nn.Module):
    """features [B, 3] → a prediction in the hundreds, as the diabetes regression gives."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.linear = nn.Linear(3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x).squeeze(-1) * 150.0 + 150.0


class DataDependent(nn.Module):
    """Control flow on a tensor's value: torch.export cannot trace it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:
            return x.sum(dim=1)
        return -x.sum(dim=1)


def test_free_dimensions_become_dynamic() -> None:
    shapes = exporters.dynamic_shapes([{"shape": [-1, 3]}, {"shape": [-1, -1]}, {"shape": [-1, 1]}])
    assert shapes == ({0: torch.export.Dim.DYNAMIC}, {0: torch.export.Dim.DYNAMIC, 1: torch.export.Dim.DYNAMIC},
                      {0: torch.export.Dim.DYNAMIC})


def test_tracing_never_sees_a_free_dimension_of_one() -> None:
    tokens, state = exporters.trace_inputs((torch.zeros(1, 1, dtype=torch.int64), torch.zeros(1, 1, 4)),
                                           [{"shape": [-1, -1]}, {"shape": [-1, 1, 4]}])
    assert (list(tokens.shape), list(state.shape)) == ([exporters.TRACE_BATCH, 2], [exporters.TRACE_BATCH, 1, 4])


def test_the_parity_bar_grows_with_the_outputs_scale() -> None:
    assert portable.tolerance([torch.tensor([0.2, 0.8])]) == pytest.approx(1e-5 + 0.8e-6)
    assert portable.tolerance([torch.tensor([300.0]), torch.tensor([1.0])]) == pytest.approx(1e-5 + 3e-4)


def test_onnx_export_passes_parity_at_batch_1_and_17(tmp_path: Path) -> None:
    results = portable.export_all(["torchscript", "onnx"], Scaled(), (torch.randn(5, 3),), FEATURES, PREDICTION,
                                  tmp_path)
    assert list(results) == ["onnx"]
    assert results["onnx"]["parity_max_abs_diff"] <= results["onnx"]["tolerance"]
    assert results["onnx"]["file_bytes"] == (tmp_path / "model.onnx").stat().st_size
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]


def test_a_module_export_cannot_trace_is_one_line_and_leaves_no_file(tmp_path: Path) -> None:
    with pytest.raises(exporters.ExportError) as raised:
        exporters.export("onnx", DataDependent(), (torch.randn(4, 3),), FEATURES, PREDICTION, tmp_path / "m.onnx")
    assert str(raised.value).startswith("onnx export failed: ")
    assert "\n" not in str(raised.value)
    assert list(tmp_path.iterdir()) == []


def test_parity_beyond_the_bar_is_refused() -> None:
    def off(x: torch.Tensor) -> torch.Tensor:
        return Scaled()(x) + 0.01

    with pytest.raises(exporters.ExportError, match=r"^onnx output differs from eager by 0\.01 > 0\.000"):
        portable.parity(Scaled(), off, (torch.randn(3, 3),), "onnx")


class Classifier(nn.Module):
    """features [B, 3] → probabilities [B, 2] through BatchNorm (eval: running statistics) and dropout."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.layers = nn.Sequential(nn.Linear(3, 8), nn.BatchNorm1d(8), nn.Dropout(0.5), nn.Linear(8, 2))
        self.layers[1].running_mean.uniform_(-1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.layers(x), dim=-1)


def test_the_explanation_program_is_differentiable_and_matches_eager(tmp_path: Path) -> None:
    eager = Classifier().eval()
    checked = portable.export_explanation(eager, (torch.randn(5, 3),), FEATURES, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.explain.pt2"]
    assert checked["file_bytes"] == (tmp_path / "model.explain.pt2").stat().st_size
    assert checked["parity_max_abs_diff"] <= checked["tolerance"]
    assert checked["gradient_max_abs_diff"] <= checked["gradient_tolerance"]
    program = torch.export.load(str(tmp_path / "model.explain.pt2")).module()  # no TorchScript, no eager code

    def gradient(module: nn.Module) -> torch.Tensor:
        x = torch.randn(17, 3, generator=torch.Generator().manual_seed(1)).requires_grad_()  # a batch not traced
        (slope,) = torch.autograd.grad(module(x)[:, 1].sum(), x)
        return slope

    assert float(gradient(eager).abs().max()) > 0.01
    assert torch.allclose(gradient(program), gradient(eager), atol=1e-6)


def test_an_explanation_program_export_cannot_trace_is_one_line_and_leaves_no_file(tmp_path: Path) -> None:
    with pytest.raises(exporters.ExportError) as raised:
        portable.export_explanation(DataDependent(), (torch.randn(4, 3),), FEATURES, tmp_path)
    assert str(raised.value).startswith("explanation export failed: ")
    assert "\n" not in str(raised.value)
    assert list(tmp_path.iterdir()) == []


def test_gradients_beyond_the_bar_are_refused_though_the_outputs_agree() -> None:
    def steeper(x: torch.Tensor) -> torch.Tensor:  # the same values, twice the gradient
        return Scaled()(x.detach() + 2 * (x - x.detach()))

    assert portable.parity(Scaled(), steeper, (torch.randn(3, 3),), "explanation")[0] == 0.0
    with pytest.raises(exporters.ExportError, match=r"^explanation gradients differ from eager by \d"):
        portable.gradient_parity(Scaled(), steeper, (torch.randn(3, 3),))


@pytest.mark.parametrize(("kind", "runtimes", "needed"), [
    ("image-classification", ["torchscript", "onnx"], True), ("regression", ["torchscript", "aoti"], True),
    ("tabular-classification", ["torchscript"], False), ("policy", ["torchscript", "onnx"], False)])
def test_an_explanation_program_is_exported_where_an_explained_model_meets_a_runtime_without_gradients(
        kind: str, runtimes: list[str], needed: bool) -> None:
    assert portable.needs_explanation(kind, runtimes) is needed


def test_an_artifact_missing_its_listed_explanation_program_is_incomplete(tmp_path: Path) -> None:
    for name in artifacts.ARTIFACT_FILES:
        (tmp_path / name).write_text("{}")
    (tmp_path / artifacts.SIGNATURE_FILE).write_text(json.dumps({"explanation": portable.EXPLANATION_ENTRY}))
    assert not artifacts.is_complete(tmp_path)
    (tmp_path / "model.explain.pt2").write_text("")
    assert artifacts.is_complete(tmp_path)


def test_the_example_is_cut_to_the_exported_step() -> None:
    tokens, state = portable.portable_example((torch.arange(12).view(2, 6), torch.zeros(2, 1, 4)),
                                              [{"shape": [-1, 1]}, {"shape": [-1, 1, 4]}])
    assert tokens.tolist() == [[0], [6]]
    assert list(state.shape) == [2, 1, 4]


def test_the_signature_lists_each_runtime_and_its_narrower_inputs() -> None:
    step = [{"name": "tokens", "dtype": "int64", "shape": [-1, 1]}]
    described = portable.describe(["torchscript", "onnx"], [dict(step[0], shape=[-1, -1])], step, "onnx")
    assert described == {"default_runtime": "onnx", "runtimes": {
        "torchscript": {"file": "model.pt", "platform": "pytorch_torchscript"},
        "onnx": {"file": "model.onnx", "platform": "onnxruntime_onnx", "inputs": step}}}


def test_an_artifact_missing_a_listed_runtime_is_incomplete(tmp_path: Path) -> None:
    for name in artifacts.ARTIFACT_FILES:
        (tmp_path / name).write_text("{}")
    (tmp_path / artifacts.SIGNATURE_FILE).write_text('{"runtimes": {"onnx": {"file": "model.onnx"}}}')
    assert not artifacts.is_complete(tmp_path)
    (tmp_path / "model.onnx").write_text("")
    assert artifacts.is_complete(tmp_path)


def test_the_registry_refuses_an_unknown_runtime_or_default() -> None:
    toy_spec = registry.get("dqn_cartpole")
    with pytest.raises(ValueError, match="runtimes must include torchscript and come from torchscript, aoti, onnx"):
        replace(toy_spec, runtimes=("torchscript", "tensorrt"))
    with pytest.raises(ValueError, match="default runtime 'aoti' is not one of its runtimes"):
        replace(toy_spec, runtimes=("torchscript", "onnx"), default_runtime="aoti")
    assert replace(toy_spec, portable_inputs=(TensorSpec("x", "float32", (-1, 1)),)).runtimes == (
        "torchscript", "aoti", "onnx")
