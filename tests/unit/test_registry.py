"""The registry: the eight curriculum models, hyperparameter profiles, tensor specs, floors and train order."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from training import artifacts, pipeline, registry
from training.registry import Floor, Kind, TensorSpec

CURRICULUM_KINDS = {
    "linear_regression": Kind.REGRESSION,
    "logistic_regression": Kind.TABULAR_CLASSIFICATION,
    "mlp_classifier": Kind.TABULAR_CLASSIFICATION,
    "cnn_digits": Kind.IMAGE_CLASSIFICATION,
    "transfer_cnn": Kind.IMAGE_CLASSIFICATION,
    "char_rnn": Kind.TEXT_GENERATION,
    "dcgan_digits": Kind.IMAGE_GENERATION,
    "dqn_cartpole": Kind.POLICY,
}
TOY = "toy_model"


@pytest.fixture
def toy_spec() -> Iterator[registry.ModelSpec]:
    """A copy of cnn_digits under a fresh name, removed from the registry afterwards."""
    spec = dataclasses.replace(registry.get("cnn_digits"), name=TOY)
    yield spec
    registry.unregister(TOY)


def test_the_eight_curriculum_models_are_registered_with_their_kinds() -> None:
    assert sorted(registry.names()) == sorted(CURRICULUM_KINDS)
    for name, kind in CURRICULUM_KINDS.items():
        spec = registry.get(name)
        assert spec.name == name
        assert spec.kind is kind


def test_kinds_have_the_documented_wire_names() -> None:
    assert {str(kind) for kind in CURRICULUM_KINDS.values()} == {
        "regression", "tabular-classification", "image-classification",
        "text-generation", "image-generation", "policy",
    }  # fmt: skip


def test_unknown_model_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown model 'nope'; known models: .*cnn_digits.*dqn_cartpole"):
        registry.get("nope")


def test_hparams_for_quick_is_the_defaults() -> None:
    spec = registry.get("cnn_digits")
    assert spec.hparams_for("quick") == dict(spec.hparams)
    assert spec.hparams_for("quick")["epochs"] == 25


def test_hparams_for_full_merges_the_whole_full_profile() -> None:
    spec = registry.get("char_rnn")
    full = spec.hparams_for("full")
    assert full == {**spec.hparams, "steps": 4000, "layers": 2, "hidden": 384, "dropout": 0.1}
    assert full["seq_len"] == spec.hparams["seq_len"]  # untouched keys keep the quick value


def test_hparams_for_applies_overrides_last() -> None:
    spec = registry.get("cnn_digits")
    assert spec.hparams_for("full", {"epochs": 3, "lr": 0.5}) == {**spec.hparams, "epochs": 3, "lr": 0.5}


def test_hparams_for_rejects_an_unknown_profile() -> None:
    with pytest.raises(ValueError, match=r"unknown profile 'medium'; choose one of quick, full"):
        registry.get("cnn_digits").hparams_for("medium")


def test_hparams_for_rejects_unknown_override_keys() -> None:
    with pytest.raises(ValueError, match=r"^cnn_digits: unknown hyperparameter\(s\) bogus, zeta$"):
        registry.get("cnn_digits").hparams_for("quick", {"zeta": 1, "lr": 0.1, "bogus": 2})


def test_tensor_spec_resolves_named_dimensions() -> None:
    spec = TensorSpec("image", "float32", (-1, "channels", "height", 8))
    assert spec.resolve({"channels": 1, "height": 28, "unused": 5}) == {
        "name": "image", "dtype": "float32", "shape": [-1, 1, 28, 8],
    }  # fmt: skip


def test_tensor_spec_names_a_missing_dimension() -> None:
    spec = TensorSpec("features", "float32", (-1, "n_features"))
    with pytest.raises(ValueError, match=r"tensor 'features': dimension 'n_features' was not provided"):
        spec.resolve({"n_classes": 3})


def test_floor_higher_is_better() -> None:
    floor = Floor("accuracy", 0.95, higher_is_better=True, description="")
    assert floor.holds(0.95)
    assert floor.holds(0.99)
    assert not floor.holds(0.949)


def test_floor_lower_is_better() -> None:
    floor = Floor("r2_gap", 0.03, higher_is_better=False, description="")
    assert floor.holds(0.03)
    assert floor.holds(-0.1)
    assert not floor.holds(0.031)


def test_register_adds_and_unregister_removes(toy_spec: registry.ModelSpec) -> None:
    assert registry.register(toy_spec) is toy_spec
    assert registry.get(TOY) is toy_spec
    assert registry.names()[-1] == TOY
    registry.unregister(TOY)
    with pytest.raises(ValueError, match="unknown model 'toy_model'"):
        registry.get(TOY)


def test_register_refuses_a_duplicate_unless_replacing(toy_spec: registry.ModelSpec) -> None:
    registry.register(toy_spec)
    again = dataclasses.replace(toy_spec, summary="another")
    with pytest.raises(ValueError, match="model 'toy_model' is already registered"):
        registry.register(again)
    assert registry.get(TOY) is toy_spec
    registry.register(again, replace=True)
    assert registry.get(TOY) is again


def test_register_refuses_a_curriculum_name() -> None:
    original = registry.get("cnn_digits")
    with pytest.raises(ValueError, match="model 'cnn_digits' is already registered"):
        registry.register(dataclasses.replace(original, summary="impostor"))
    assert registry.get("cnn_digits") is original


@pytest.mark.parametrize("name", ["bad-name", "has space", "1st", ""])
def test_register_refuses_a_name_that_is_not_an_identifier(toy_spec: registry.ModelSpec, name: str) -> None:
    with pytest.raises(ValueError, match="must be a Python identifier"):
        registry.register(dataclasses.replace(toy_spec, name=name))
    assert name not in registry.names()


def test_train_order_puts_the_judge_before_the_gan() -> None:
    assert pipeline.train_order(["dcgan_digits"]) == ["cnn_digits", "dcgan_digits"]
    assert pipeline.train_order(["char_rnn", "dcgan_digits", "cnn_digits", "linear_regression"]) == [
        "char_rnn", "cnn_digits", "dcgan_digits", "linear_regression",
    ]  # fmt: skip


def test_train_order_keeps_the_given_order_and_drops_repeats() -> None:
    assert pipeline.train_order(["dqn_cartpole", "linear_regression", "char_rnn", "dqn_cartpole"]) == [
        "dqn_cartpole", "linear_regression", "char_rnn",
    ]  # fmt: skip


def test_train_order_of_every_model_is_the_registry_order() -> None:
    names = registry.names()
    ordered = pipeline.train_order(names)
    assert ordered == names
    assert ordered.index("cnn_digits") < ordered.index("dcgan_digits")


def test_train_order_rejects_an_unknown_model() -> None:
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        pipeline.train_order(["cnn_digits", "nope"])


def test_serving_hints_are_refreshed_without_retraining(tmp_path: Path) -> None:
    spec = registry.get("mlp_classifier")
    folder = tmp_path / spec.name
    folder.mkdir()
    old = {"name": spec.name, "kind": str(spec.kind), "serving": {"batch_size": 99, "max_batch_delay_ms": 7}}
    (folder / artifacts.SIGNATURE_FILE).write_text(json.dumps(old))
    assert artifacts.sync_serving(folder, spec) is True
    updated = json.loads((folder / artifacts.SIGNATURE_FILE).read_text())
    assert updated == {**old, "serving": dict(spec.serving)}
    assert artifacts.sync_serving(folder, spec) is False


def test_a_changed_default_runtime_is_refreshed_without_retraining(tmp_path: Path) -> None:
    spec = dataclasses.replace(registry.get("mlp_classifier"), default_runtime="onnx")
    folder = tmp_path / spec.name
    folder.mkdir()
    exported = {"serving": dict(spec.serving), "default_runtime": "torchscript",
                "runtimes": {"torchscript": {"file": "model.pt"}, "onnx": {"file": "model.onnx"}}}
    (folder / artifacts.SIGNATURE_FILE).write_text(json.dumps(exported))
    assert artifacts.sync_serving(folder, spec) is True
    assert json.loads((folder / artifacts.SIGNATURE_FILE).read_text()) == {**exported, "default_runtime": "onnx"}
    assert artifacts.sync_serving(folder, spec) is False


def test_a_default_runtime_the_artifact_lacks_is_left_as_exported(tmp_path: Path) -> None:
    spec = dataclasses.replace(registry.get("mlp_classifier"), default_runtime="aoti")
    folder = tmp_path / spec.name
    folder.mkdir()
    exported = {"serving": dict(spec.serving), "default_runtime": "torchscript",
                "runtimes": {"torchscript": {"file": "model.pt"}}}
    (folder / artifacts.SIGNATURE_FILE).write_text(json.dumps(exported))
    assert artifacts.sync_serving(folder, spec) is False
