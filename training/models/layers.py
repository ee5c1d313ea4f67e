"""Reusable layers: the preprocessing and heads that travel inside exported modules, plus the curriculum's
custom layer and custom loss (both scriptable, so they export like built-in ones)."""


import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812


class Standardize(nn.Module):
    """(x - mean) / std with statistics fixed at training time, so clients send raw values.

    `mean` and `std` broadcast against the input: [n_features] for tables, [C, 1, 1] for images."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", mean.detach().clone().float())
        # A constant column has std 0; dividing by 1 keeps it finite and centred.
        self.register_buffer("std", torch.where(std > 0, std, torch.ones_like(std)).detach().clone().float())

    @classmethod
    def neutral(cls, shape: list[int]) -> "Standardize":
        """Mean 0 and std 1 of `shape`: a placeholder whose statistics a saved model's weights replace."""
        return cls(torch.zeros(shape), torch.ones(shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class Destandardize(nn.Module):
    """Maps a standardized regression output [B, 1] back to the target's units as [B]."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, mean: float, std: float) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(float(mean)))
        self.register_buffer("std", torch.tensor(float(std)))

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return y.squeeze(-1) * self.std + self.mean


class Softmax(nn.Module):
    """Logits [B, K] → class probabilities [B, K]."""

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.softmax(logits, dim=-1)


class BinaryProbabilities(nn.Module):
    """One logit [B, 1] → probabilities of (negative, positive) [B, 2], the same shape as multi-class."""

    def forward(self, logit: torch.Tensor) -> torch.Tensor:
        positive = torch.sigmoid(logit.reshape(-1, 1))
        return torch.cat([1.0 - positive, positive], dim=1)


class GatedLinear(nn.Module):
    """The curriculum's custom layer: a gated linear unit, `a * sigmoid(b)` with `[a, b] = W x + c`.

    The gate lets each unit learn how much of its input to pass, a step beyond Linear + ReLU."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.proj = nn.Linear(in_features, 2 * out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        value, gate = self.proj(x).chunk(2, dim=-1)
        return value * torch.sigmoid(gate)


class LabelSmoothingCrossEntropy(nn.Module):
    """The curriculum's custom loss: cross-entropy against targets smoothed towards the uniform distribution.

    Written out (rather than `F.cross_entropy(label_smoothing=...)`) to show a loss is just a module."""

    def __init__(self, smoothing: float = 0.1) -> None:
        super().__init__()
        if not 0.0 <= smoothing < 1.0:
            raise ValueError("smoothing must be in [0, 1)")
        self.smoothing = smoothing

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        log_probs = F.log_softmax(logits, dim=-1)
        nll = -log_probs.gather(1, target.unsqueeze(1)).squeeze(1)
        uniform = -log_probs.mean(dim=-1)
        return ((1.0 - self.smoothing) * nll + self.smoothing * uniform).mean()
