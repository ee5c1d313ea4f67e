"""The supervised training loop shared by the regression and classification recipes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from tqdm import tqdm


@dataclass(frozen=True)
class LoopConfig:
    """Optimisation settings of one run."""

    epochs: int
    batch_size: int
    lr: float
    weight_decay: float = 0.0


def fit(
    net: nn.Module,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    config: LoopConfig,
    *,
    generator: torch.Generator,
    evaluate: Callable[[], float],
    metric: str,
    desc: str,
    progress: bool = True,
) -> dict[str, list[float]]:
    """Minibatch AdamW with cosine decay; returns per-epoch training loss and held-out metric for the curve."""
    device = next(net.parameters()).device
    x, y = x.to(device), y.to(device)
    params = [p for p in net.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    history: dict[str, list[float]] = {"loss": [], metric: []}
    bar = tqdm(range(config.epochs), desc=desc, disable=not progress, leave=False)
    for _ in bar:
        net.train()
        order = torch.randperm(len(x), generator=generator).to(device)
        total = 0.0
        for start in range(0, len(x), config.batch_size):
            idx = order[start : start + config.batch_size]
            if len(idx) < 2 and any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in net.modules()):
                continue  # BatchNorm cannot normalise a batch of one
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(net(x[idx]), y[idx])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
        scheduler.step()
        net.eval()
        history["loss"].append(total / len(x))
        history[metric].append(evaluate())
        bar.set_postfix(loss=f"{history['loss'][-1]:.4f}", **{metric: f"{history[metric][-1]:.4f}"})
    return history


@torch.inference_mode()
def accuracy(module: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Share of rows whose highest-scoring class is the label."""
    device = next(module.parameters()).device
    module.eval()
    return float((module(x.to(device)).argmax(dim=-1).cpu() == y).float().mean())
