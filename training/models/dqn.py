"""The Q-network of the DQN policy: observation → one value per action."""


from collections.abc import Mapping
from typing import Any

from torch import nn


def q_network(dims: Mapping[str, int], hp: Mapping[str, Any]) -> nn.Module:
    """A two-hidden-layer MLP; the greedy action is the argmax of its output."""
    hidden = int(hp["hidden"])
    return nn.Sequential(
        nn.Linear(dims["observation_dim"], hidden), nn.ReLU(),
        nn.Linear(hidden, hidden), nn.ReLU(),
        nn.Linear(hidden, dims["n_actions"]),
    )
