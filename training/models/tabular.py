"""Networks for tabular data. They map standardized features to raw outputs; the recipe wraps them with
the standardization and the head that the exported module needs."""


from collections.abc import Mapping
from typing import Any

from torch import nn

from training.models.layers import GatedLinear


def linear(dims: Mapping[str, int], hp: Mapping[str, Any]) -> nn.Module:
    """Linear regression (or, with one output for a binary target, logistic regression)."""
    return nn.Linear(dims["n_features"], dims.get("n_outputs", 1))


def mlp(dims: Mapping[str, int], hp: Mapping[str, Any]) -> nn.Module:
    """A multi-layer perceptron with the custom gated layer, BatchNorm and dropout."""
    hidden = int(hp["hidden"])
    return nn.Sequential(
        GatedLinear(dims["n_features"], hidden),
        nn.BatchNorm1d(hidden),
        nn.Dropout(float(hp["dropout"])),
        nn.Linear(hidden, hidden),
        nn.BatchNorm1d(hidden),
        nn.ReLU(),
        nn.Dropout(float(hp["dropout"])),
        nn.Linear(hidden, dims["n_classes"]),
    )
