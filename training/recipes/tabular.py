"""Recipes for tabular models: regression and classification on scikit-learn's bundled datasets."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch
from sklearn.linear_model import LinearRegression
from sklearn.metrics import r2_score
from torch import nn

from training.data import tabular
from training.models.layers import (
    BinaryProbabilities,
    Destandardize,
    LabelSmoothingCrossEntropy,
    Softmax,
    Standardize,
)
from training.recipes.base import RecipeContext, TrainResult
from training.recipes.supervised import LoopConfig, accuracy, fit

if TYPE_CHECKING:
    from training.registry import ModelSpec


def _loop(ctx: RecipeContext) -> LoopConfig:
    hp = ctx.hparams
    return LoopConfig(int(hp["epochs"]), int(hp["batch_size"]), float(hp["lr"]), float(hp["weight_decay"]))


def _standardizer(x: torch.Tensor) -> Standardize:
    return Standardize(x.mean(dim=0), x.std(dim=0))


def regression_module(standardize: Standardize, core: nn.Module, y_mean: float, y_std: float) -> nn.Sequential:
    """What a regression exports: the features standardized, the core network, the output in the target's units."""
    return nn.Sequential(standardize, core, Destandardize(y_mean, y_std))


def regression_skeleton(spec: ModelSpec, dims: Mapping[str, int], hp: Mapping[str, Any]) -> nn.Module:
    """The exported regression's layers with neutral statistics, for its saved weights to load back into."""
    return regression_module(Standardize.neutral([dims["n_features"]]), spec.build(dims, hp), 0.0, 1.0)


def regression(ctx: RecipeContext) -> TrainResult:
    """MSE regression on standardized features and target; the exported module takes and returns raw units."""
    data = tabular.load(ctx.dataset_name, ctx.holdout)
    x, y = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)
    x_test = torch.from_numpy(data.x_test)
    dims = {"n_features": x.shape[1]}
    y_mean, y_std = float(y.mean()), float(y.std())
    core = ctx.spec.build(dims, ctx.hparams)
    module = regression_module(_standardizer(x), core, y_mean, y_std).to(ctx.device)

    def r2() -> float:
        with torch.inference_mode():
            return float(r2_score(data.y_test, module(x_test.to(ctx.device)).cpu().numpy()))

    # Fit the core on standardized targets; the same scale for every dataset keeps the learning rate portable.
    def loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return nn.functional.mse_loss((pred - y_mean) / y_std, (target - y_mean) / y_std)

    history = fit(module, loss, x, y, _loop(ctx), generator=torch.Generator().manual_seed(ctx.seed),
                  evaluate=r2, metric="r2", desc=ctx.spec.name, progress=ctx.progress)
    baseline = float(r2_score(data.y_test, LinearRegression().fit(data.x_train, data.y_train).predict(data.x_test)))
    achieved = r2()
    metrics = {"r2": achieved, "sklearn_r2": baseline, "r2_gap": baseline - achieved}
    return TrainResult(module.cpu().eval(), (x_test[:32],), metrics, history, dims,
                       {"feature_names": data.feature_names})


def classification_dims(n_features: int, n_classes: int, hp: Mapping[str, Any]) -> dict[str, int]:
    """A classifier's dimensions: BCE (two classes) has one output, the other losses one per class."""
    return {"n_features": n_features, "n_classes": n_classes,
            "n_outputs": 1 if hp.get("loss") == "bce" else n_classes}


def classifier_module(standardize: Standardize, core: nn.Module, hp: Mapping[str, Any]) -> nn.Sequential:
    """What a classifier exports: the trained net (standardization, core) and the head that gives
    probabilities, two from BCE's one logit or a softmax over the classes."""
    head = BinaryProbabilities() if hp.get("loss") == "bce" else Softmax()
    return nn.Sequential(nn.Sequential(standardize, core), head)


def classification_skeleton(spec: ModelSpec, dims: Mapping[str, int], hp: Mapping[str, Any]) -> nn.Module:
    """The exported classifier's layers with neutral statistics, for its saved weights to load back into."""
    dims = classification_dims(dims["n_features"], dims["n_classes"], hp)
    return classifier_module(Standardize.neutral([dims["n_features"]]), spec.build(dims, hp), hp)


def classification(ctx: RecipeContext) -> TrainResult:
    """Classification with BCE for two classes (one logit) or (smoothed) cross-entropy for more."""
    data = tabular.load(ctx.dataset_name, ctx.holdout)
    x, y = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)
    x_test, y_test = torch.from_numpy(data.x_test), torch.from_numpy(data.y_test)
    dims = classification_dims(x.shape[1], len(data.target_names), ctx.hparams)
    core = ctx.spec.build(dims, ctx.hparams)
    module = classifier_module(_standardizer(x), core, ctx.hparams).to(ctx.device)
    net = module[0]  # what the loss trains: the logits, before the head
    loss_fn = classification_loss(str(ctx.hparams.get("loss", "cross_entropy")), ctx.hparams)

    history = fit(net, loss_fn, x, y, _loop(ctx), generator=torch.Generator().manual_seed(ctx.seed),
                  evaluate=lambda: accuracy(module, x_test, y_test), metric="accuracy",
                  desc=ctx.spec.name, progress=ctx.progress)
    metrics = {"accuracy": accuracy(module, x_test, y_test)}
    return TrainResult(module.cpu().eval(), (x_test[:32],), metrics, history, dims,
                       {"feature_names": data.feature_names, "labels": data.target_names})


def classification_loss(name: str, hp: object) -> nn.Module:
    """The loss a classification spec names: `bce`, `cross_entropy` or `label_smoothing`."""
    if name == "bce":
        bce = nn.BCEWithLogitsLoss()
        return _Reshaped(bce)
    if name == "label_smoothing":
        return LabelSmoothingCrossEntropy(float(hp["smoothing"]))  # type: ignore[index]
    if name == "cross_entropy":
        return nn.CrossEntropyLoss()
    raise ValueError(f"unknown loss {name!r}")


class _Reshaped(nn.Module):
    """BCE wants float targets shaped like its single logit."""

    def __init__(self, loss: nn.Module) -> None:
        super().__init__()
        self.loss = loss

    def forward(self, logit: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.loss(logit.reshape(-1), target.float())
