"""The same command twice gives the same metrics: every recipe, on short runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from training import registry
from training.pipeline import RunOptions, train_and_export

# Short but complete runs of every recipe; the full quick profile is exercised by the artifact tests.
SHORT = {
    "linear_regression": {"epochs": 20},
    "logistic_regression": {"epochs": 10},
    "mlp_classifier": {"epochs": 10},
    "cnn_digits": {"epochs": 2},
    "char_rnn": {"steps": 20, "hidden": 64},
    "transfer_cnn": {"pretrain_images": 300, "pretrain_epochs": 1, "head_epochs": 1, "finetune_epochs": 1,
                     "scratch_epochs": 1},
    "dcgan_digits": {"steps": 30},
    "dqn_cartpole": {"steps": 1500, "warmup_steps": 200, "epsilon_decay_steps": 500, "validate_every": 500},
}


def test_short_runs_cover_every_model() -> None:
    assert sorted(SHORT) == sorted(registry.names())


@pytest.mark.parametrize("name", sorted(SHORT))
def test_same_seed_same_metrics(name: str, artifacts_dir: Path, tmp_path: Path) -> None:
    # artifacts_dir supplies the trained cnn_digits that judges the GAN.
    # TorchScript only: sixteen runs would otherwise compile sixteen AOTInductor models; the weights decide.
    options = RunOptions(progress=False, artifacts_dir=artifacts_dir, seed=3, runtimes=("torchscript",))
    first = train_and_export(name, options, SHORT[name], folder=tmp_path / "a")
    second = train_and_export(name, options, SHORT[name], folder=tmp_path / "b")
    assert first["metrics"] == second["metrics"]
    assert (tmp_path / "a" / "signature.json").read_text() == (tmp_path / "b" / "signature.json").read_text()


def test_another_seed_changes_the_run(tmp_path: Path) -> None:
    # A continuous metric (R² after a short run), so the difference cannot hide behind a saturated accuracy.
    runs = [train_and_export("linear_regression", RunOptions(progress=False, seed=seed, runtimes=("torchscript",)),
                             SHORT["linear_regression"], folder=tmp_path / str(seed))["metrics"] for seed in (0, 1)]
    assert runs[0]["r2"] != runs[1]["r2"]
