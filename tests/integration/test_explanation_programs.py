"""The explanation programs of the curriculum's explained models (model.explain.pt2): each matches its model.pt in
outputs and input gradients, and an artifact exported before the programs existed gets its program from
`python -m training train --missing`, without retraining (training/explanation.py)."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
import torch

from handlers import EXPLAINED_KINDS
from tests.conftest import run_cli
from training import artifacts, explanation, export, registry
from training.exporters import ExportError

EXPLAINED = [name for name in registry.names() if registry.get(name).kind in EXPLAINED_KINDS]
PROGRAM = "model.explain.pt2"


def _gradients(module: object, x: torch.Tensor, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = x.clone().requires_grad_()
    out = module(x)  # type: ignore[operator]
    (slope,) = torch.autograd.grad((out * weights).sum(), x)
    return out.detach(), slope


def test_the_explained_models_are_the_five_of_explained_kinds() -> None:
    assert EXPLAINED == ["linear_regression", "logistic_regression", "mlp_classifier", "cnn_digits", "transfer_cnn"]


@pytest.mark.parametrize("name", registry.names())
def test_each_explained_model_carries_a_program_that_matches_its_torchscript(artifacts_dir: Path, name: str) -> None:
    folder = artifacts_dir / name
    signature = json.loads((folder / artifacts.SIGNATURE_FILE).read_text())
    if name not in EXPLAINED:
        assert "explanation" not in signature
        assert not (folder / PROGRAM).exists()
        return
    assert signature["explanation"] == {"file": PROGRAM, "format": "torch.export"}
    checked = json.loads((folder / artifacts.METRICS_FILE).read_text())["explanation"]
    assert checked["parity_max_abs_diff"] <= checked["tolerance"]
    assert checked["gradient_max_abs_diff"] <= checked["gradient_tolerance"]
    assert "model.explain.pt2" in (folder / artifacts.CARD_FILE).read_text()
    program = torch.export.load(str(folder / PROGRAM)).module()
    with export.torchscript_deprecation_silenced():
        scripted = torch.jit.load(str(folder / artifacts.MODEL_FILE), map_location="cpu")
    shape = signature["inputs"][0]["shape"]
    for batch in (1, 17):
        x = torch.rand([batch, *shape[1:]], generator=torch.Generator().manual_seed(batch)) * 2
        weights = torch.randn(scripted(x).shape, generator=torch.Generator().manual_seed(0))
        (out, slope), (want, want_slope) = _gradients(program, x, weights), _gradients(scripted, x, weights)
        scale = float(want_slope.abs().max())
        assert torch.allclose(out, want, atol=1e-5, rtol=1e-6), name
        assert torch.allclose(slope, want_slope, atol=1e-5 + 1e-6 * scale), name


def _without_program(artifacts_dir: Path, root: Path, name: str) -> Path:
    """A copy of the artifact as it was before the explanation programs: no file, no entries."""
    folder = root / name
    shutil.copytree(artifacts_dir / name, folder)
    (folder / PROGRAM).unlink()
    for file, key in ((artifacts.SIGNATURE_FILE, "explanation"), (artifacts.METRICS_FILE, "explanation")):
        data = json.loads((folder / file).read_text())
        data.pop(key)
        (folder / file).write_text(json.dumps(data))
    return folder


def test_train_missing_reexports_a_missing_program_from_model_pt_without_retraining(artifacts_dir: Path,
                                                                                   tmp_path: Path) -> None:
    folders = [_without_program(artifacts_dir, tmp_path, name) for name in ("linear_regression", "mlp_classifier")]
    before = {f.name: (f / artifacts.MODEL_FILE).read_bytes() for f in folders}
    result = run_cli("train", "--missing", "--quiet", "--artifacts", str(tmp_path), "linear_regression",
                     "mlp_classifier", timeout=300)
    assert result.returncode == 0, result.stderr
    for folder in folders:
        assert f"{folder.name} " in result.stdout
        line = next(line for line in result.stdout.splitlines() if line.startswith(f"{folder.name} "))
        assert "explanation program exported from model.pt" in line
        assert (folder / artifacts.MODEL_FILE).read_bytes() == before[folder.name]  # not retrained
        signature = json.loads((folder / artifacts.SIGNATURE_FILE).read_text())
        assert signature["explanation"] == {"file": PROGRAM, "format": "torch.export"}
        default = registry.get(folder.name).default_runtime
        assert signature["default_runtime"] == default
        card = (folder / artifacts.CARD_FILE).read_text()
        assert f"Served by default on **{default}**" in card
        assert "carries `model.explain.pt2`, torch.export's program of the eager module" in card
        checked = json.loads((folder / artifacts.METRICS_FILE).read_text())["explanation"]
        assert checked["source"] == "model.pt"
        assert checked["parity_max_abs_diff"] <= checked["tolerance"]
        assert checked["gradient_max_abs_diff"] <= checked["gradient_tolerance"]
        assert artifacts.is_complete(folder)
        assert not explanation.missing(folder, registry.get(folder.name))  # the next run leaves it alone


def test_a_model_pt_that_does_not_fit_the_layers_is_one_line_and_leaves_the_artifact_as_it_was(
        artifacts_dir: Path, tmp_path: Path) -> None:
    folder = _without_program(artifacts_dir, tmp_path, "linear_regression")
    shutil.copy(artifacts_dir / "logistic_regression" / artifacts.MODEL_FILE, folder / artifacts.MODEL_FILE)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    with pytest.raises(ExportError, match=r"^linear_regression: model.pt does not load into the registry's layers: "
                                          r"Error\(s\) in loading state_dict") as raised:
        explanation.add_missing(folder, registry.get("linear_regression"))
    assert "\n" not in str(raised.value)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["linear_regression"]  # no staging folder left


def test_a_model_without_a_skeleton_says_it_must_be_retrained(artifacts_dir: Path, tmp_path: Path) -> None:
    folder = _without_program(artifacts_dir, tmp_path, "mlp_classifier")
    spec = dataclasses.replace(registry.get("mlp_classifier"), skeleton=None)
    with pytest.raises(ExportError, match=r"^mlp_classifier: the registry names no skeleton to load model.pt's "
                                          r"weights into; retrain it \(python -m training train mlp_classifier\)$"):
        explanation.add_missing(folder, spec)
