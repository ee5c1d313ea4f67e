"""Transfer learning: pretrain on procedural shapes (or load torchvision weights), then fine-tune on a few
labelled digits — first the head on a frozen backbone, then everything — and compare with training the same
network from scratch on the same labels."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from training.data import images
from training.models.layers import Softmax
from training.recipes.base import RecipeContext, TrainResult
from training.recipes.supervised import LoopConfig, accuracy, fit

if TYPE_CHECKING:
    from training.registry import ModelSpec


def few_labels(split: images.ImageSplit, per_class: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded, class-balanced subset of the training images: `per_class` labels of each class."""
    order = torch.randperm(len(split.y_train), generator=torch.Generator().manual_seed(seed))
    picked = torch.cat([order[split.y_train[order] == c][:per_class] for c in range(len(split.labels))])
    return split.x_train[picked], split.y_train[picked]


def transfer_module(net: nn.Module) -> nn.Sequential:
    """What the transferred network exports: its logits through a softmax."""
    return nn.Sequential(net, Softmax())


def transfer_skeleton(spec: ModelSpec, dims: Mapping[str, int], hp: Mapping[str, Any]) -> nn.Module:
    """The exported network's layers, untrained, for its saved weights to load back into (its head already
    sized for the task's classes, as `replace_head` left it)."""
    return transfer_module(spec.build(dims, hp))


def transfer_learning(ctx: RecipeContext) -> TrainResult:
    """Pretrain → frozen-backbone head → full fine-tune; the scratch baseline is recorded beside it."""
    hp = ctx.hparams
    digits = images.digits(ctx.holdout)
    dims = {"channels": 1, "height": 8, "width": 8, "n_classes": len(digits.labels)}
    x_few, y_few = few_labels(digits, int(hp["labels_per_class"]), ctx.seed)
    generator = torch.Generator().manual_seed(ctx.seed)
    history: dict[str, list[float]] = {}

    def stage(net: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, lr: float, name: str,
              test: images.ImageSplit) -> None:
        config = LoopConfig(epochs, int(hp["batch_size"]), lr, float(hp["weight_decay"]))
        result = fit(net, nn.CrossEntropyLoss(), x, y, config, generator=generator,
                     evaluate=lambda: accuracy(net, test.x_test, test.y_test), metric="accuracy",
                     desc=f"{ctx.spec.name}:{name}", progress=ctx.progress)
        history[f"{name}_accuracy"] = result["accuracy"]

    weights = str(hp["pretrained_weights"])
    if weights:
        net = ctx.spec.build({**dims, "n_classes": 1000}, hp).to(ctx.device)
        net.load_torchvision_weights(Path(weights))
    else:
        shapes = images.shapes(int(hp["pretrain_images"]), seed=ctx.seed, classes=int(hp["pretrain_classes"]))
        net = ctx.spec.build({**dims, "n_classes": len(shapes.labels)}, hp).to(ctx.device)
        stage(net, shapes.x_train, shapes.y_train, int(hp["pretrain_epochs"]), float(hp["lr"]), "pretrain",
              shapes)
    net.replace_head(dims["n_classes"])
    net.to(ctx.device).freeze_backbone(True)
    stage(net, x_few, y_few, int(hp["head_epochs"]), float(hp["lr"]), "head", digits)
    net.freeze_backbone(False)
    stage(net, x_few, y_few, int(hp["finetune_epochs"]), float(hp["finetune_lr"]), "finetune", digits)

    torch.manual_seed(ctx.seed)
    scratch = ctx.spec.build(dims, hp).to(ctx.device)
    stage(scratch, x_few, y_few, int(hp["scratch_epochs"]), float(hp["lr"]), "scratch", digits)

    transferred = accuracy(net, digits.x_test, digits.y_test)
    from_scratch = accuracy(scratch, digits.x_test, digits.y_test)
    metrics = {"accuracy": transferred, "scratch_accuracy": from_scratch,
               "gain_points": 100.0 * (transferred - from_scratch), "labels_used": float(len(y_few))}
    module = transfer_module(net).cpu().eval()
    extra = {"labels": digits.labels, "pretrained_from": Path(weights).name if weights else "procedural shapes"}
    return TrainResult(module, (digits.x_test[:32],), metrics, history, dims, extra)
