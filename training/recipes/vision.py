"""Recipe for image classifiers: scikit-learn's digits by default, or a local standard dataset."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from training.data import images
from training.models.layers import Softmax, Standardize
from training.recipes.base import RecipeContext, TrainResult
from training.recipes.supervised import LoopConfig, accuracy, fit

if TYPE_CHECKING:
    from training.registry import ModelSpec


def load_images(ctx: RecipeContext) -> images.ImageSplit:
    """The recipe's dataset: the spec's digits, or a local MNIST/FashionMNIST/CIFAR-10 the CLI names."""
    if ctx.dataset_name == "digits":
        return images.digits(ctx.holdout)
    from training.data.local import load_local

    if ctx.data_dir is None:
        raise ValueError(f"dataset {ctx.dataset_name!r} is read from a local directory: pass --data-dir")
    return load_local(ctx.dataset_name, ctx.data_dir)


def image_dims(data: images.ImageSplit) -> dict[str, int]:
    """The named dimensions of an image classifier's signature."""
    c, h, w = data.image_shape
    return {"channels": c, "height": h, "width": w, "n_classes": len(data.labels)}


def channel_standardizer(x: torch.Tensor) -> Standardize:
    """Per-channel standardization with the training images' statistics, shaped [C, 1, 1]."""
    return Standardize(x.mean(dim=(0, 2, 3))[:, None, None], x.std(dim=(0, 2, 3))[:, None, None])


def image_classifier(standardize: Standardize, core: nn.Module) -> nn.Sequential:
    """What an image classifier exports: the trained net (standardization, core) and a softmax."""
    return nn.Sequential(nn.Sequential(standardize, core), Softmax())


def image_classification_skeleton(spec: ModelSpec, dims: Mapping[str, int], hp: Mapping[str, Any]) -> nn.Module:
    """The exported classifier's layers with neutral statistics, for its saved weights to load back into."""
    return image_classifier(Standardize.neutral([dims["channels"], 1, 1]), spec.build(dims, hp))


def image_classification(ctx: RecipeContext) -> TrainResult:
    """Cross-entropy training of the spec's network; the export takes pixels in [0, 1] and gives probabilities."""
    data = load_images(ctx)
    dims = image_dims(data)
    module = image_classifier(channel_standardizer(data.x_train), ctx.spec.build(dims, ctx.hparams)).to(ctx.device)
    net = module[0]  # what the loss trains: the logits, before the softmax
    hp = ctx.hparams
    config = LoopConfig(int(hp["epochs"]), int(hp["batch_size"]), float(hp["lr"]), float(hp["weight_decay"]))
    history = fit(net, nn.CrossEntropyLoss(label_smoothing=float(hp.get("smoothing", 0.0))),
                  data.x_train, data.y_train, config, generator=torch.Generator().manual_seed(ctx.seed),
                  evaluate=lambda: accuracy(module, data.x_test, data.y_test), metric="accuracy",
                  desc=ctx.spec.name, progress=ctx.progress)
    metrics = {"accuracy": accuracy(module, data.x_test, data.y_test)}
    extra = {"labels": data.labels, "dataset": ctx.dataset_name}
    return TrainResult(module.cpu().eval(), (data.x_test[:32],), metrics, history, dims, extra)
