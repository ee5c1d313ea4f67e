"""Every curriculum model's quick-profile artifacts: complete, above the floor, and self-describing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from training import artifacts, export, registry

MODELS = registry.names()


def _load(folder: Path) -> torch.jit.ScriptModule:
    with export.torchscript_deprecation_silenced():
        return torch.jit.load(str(folder / artifacts.MODEL_FILE), map_location="cpu")


def _inputs_from_signature(signature: dict, batch: int) -> tuple[torch.Tensor, ...]:
    """Valid inputs built from the signature alone, as a client (or handler) would build them."""
    tensors = []
    for spec in signature["inputs"]:
        shape = [batch if i == 0 else (5 if d == -1 else d) for i, d in enumerate(spec["shape"])]
        if spec["dtype"] == "int64":
            high = len(signature.get("vocab") or signature.get("labels") or [2])
            tensors.append(torch.randint(0, high, shape, generator=torch.Generator().manual_seed(0)))
        else:
            tensors.append(torch.rand(shape, generator=torch.Generator().manual_seed(0)))
    return tuple(tensors)


@pytest.mark.parametrize("name", MODELS)
def test_artifact_folder_is_complete_and_floor_holds(artifacts_dir: Path, name: str) -> None:
    folder = artifacts_dir / name
    assert artifacts.is_complete(folder), sorted(p.name for p in folder.iterdir())
    metrics = json.loads((folder / artifacts.METRICS_FILE).read_text())
    spec = registry.get(name)
    assert metrics["profile"] == "quick"
    assert metrics["floor"]["metric"] == spec.floor.metric
    assert metrics["floor"]["applies"] is True
    assert spec.floor.holds(metrics["achieved"]), f"{name}: {spec.floor.description}, got {metrics['achieved']}"
    assert metrics["passed"] is True
    assert metrics["parity_max_abs_diff"] <= export.PARITY_TOLERANCE


@pytest.mark.parametrize("name", MODELS)
def test_signature_matches_what_the_module_accepts(artifacts_dir: Path, name: str) -> None:
    folder = artifacts_dir / name
    signature = json.loads((folder / artifacts.SIGNATURE_FILE).read_text())
    spec = registry.get(name)
    assert signature["name"] == name
    assert signature["kind"] == str(spec.kind)
    assert [t["name"] for t in signature["inputs"]] == [t.name for t in spec.inputs]
    assert [t["name"] for t in signature["outputs"]] == [t.name for t in spec.outputs]
    module = _load(folder)
    for batch in (1, 17):
        outputs = export.as_tuple(module(*_inputs_from_signature(signature, batch)))
        assert len(outputs) == len(signature["outputs"])
        for out, tensor_spec in zip(outputs, signature["outputs"], strict=True):
            assert str(out.dtype) == f"torch.{tensor_spec['dtype']}"
            assert out.shape[0] == batch
            assert all(d in (-1, s) for d, s in zip(tensor_spec["shape"][1:], out.shape[1:], strict=True))


@pytest.mark.parametrize("name", [n for n in MODELS if registry.get(n).kind.endswith("classification")])
def test_classifiers_output_probabilities_over_named_labels(artifacts_dir: Path, name: str) -> None:
    folder = artifacts_dir / name
    signature = json.loads((folder / artifacts.SIGNATURE_FILE).read_text())
    probabilities = _load(folder)(*_inputs_from_signature(signature, 17))
    assert probabilities.shape == (17, len(signature["labels"]))
    assert torch.allclose(probabilities.sum(dim=1), torch.ones(17), atol=1e-5)
    assert (probabilities >= 0).all()


def test_tabular_models_take_raw_features_in_sklearn_column_order(artifacts_dir: Path) -> None:
    from sklearn.datasets import load_wine

    wine = load_wine()
    signature = json.loads((artifacts_dir / "mlp_classifier" / artifacts.SIGNATURE_FILE).read_text())
    assert signature["feature_names"] == list(wine.feature_names)
    assert signature["labels"] == list(wine.target_names)
    # Raw, unnormalized rows of each class are classified correctly: normalization lives inside the module.
    module = _load(artifacts_dir / "mlp_classifier")
    rows = torch.tensor(wine.data, dtype=torch.float32)
    accuracy = (module(rows).argmax(dim=1) == torch.tensor(wine.target)).float().mean()
    assert accuracy >= 0.95


def test_linear_regression_matches_closed_form_within_floor(artifacts_dir: Path) -> None:
    metrics = json.loads((artifacts_dir / "linear_regression" / artifacts.METRICS_FILE).read_text())["metrics"]
    assert abs(metrics["sklearn_r2"] - metrics["r2"]) <= 0.03
    assert metrics["r2"] > 0.3  # diabetes is only half-explained by a linear fit; a broken model scores ≤ 0


def test_transfer_records_both_figures(artifacts_dir: Path) -> None:
    metrics = json.loads((artifacts_dir / "transfer_cnn" / artifacts.METRICS_FILE).read_text())["metrics"]
    assert metrics["labels_used"] <= 200
    assert metrics["gain_points"] == pytest.approx(100 * (metrics["accuracy"] - metrics["scratch_accuracy"]), abs=1e-3)


def test_model_card_states_floor_and_ethics(artifacts_dir: Path) -> None:
    for name in MODELS:
        card = (artifacts_dir / name / artifacts.CARD_FILE).read_text()
        spec = registry.get(name)
        assert f"# Model card: {name}" in card
        assert "## Ethical considerations" in card
        assert spec.card.ethics in card
        assert spec.chapter in card
        assert "**holds**" in card


def test_curve_is_a_png(artifacts_dir: Path) -> None:
    for name in MODELS:
        assert (artifacts_dir / name / artifacts.CURVE_FILE).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
