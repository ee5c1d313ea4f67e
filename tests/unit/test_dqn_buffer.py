"""The DQN recipe's replay buffer and its greedy evaluation."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from training.recipes.dqn import ReplayBuffer, greedy_returns


def _fill(buffer: ReplayBuffer, count: int) -> None:
    """Transition i: obs [i, -i], action i % 2, reward i, next_obs obs + 1, done when i is a multiple of 4."""
    for i in range(1, count + 1):
        obs = np.array([i, -i], dtype=np.float32)
        buffer.add(obs, i % 2, float(i), obs + 1, i % 4 == 0)


def _sample_rewards(buffer: ReplayBuffer, batch: int = 200, seed: int = 0) -> set[float]:
    _, _, reward, _, _ = buffer.sample(batch, np.random.default_rng(seed))
    return set(reward.tolist())


def test_buffer_grows_until_capacity() -> None:
    buffer = ReplayBuffer(capacity=3, obs_dim=2)
    assert (buffer.size, buffer.cursor) == (0, 0)
    _fill(buffer, 2)
    assert (buffer.size, buffer.cursor) == (2, 2)
    assert _sample_rewards(buffer) == {1.0, 2.0}  # never the empty third slot


def test_buffer_wraps_around_overwriting_the_oldest() -> None:
    buffer = ReplayBuffer(capacity=3, obs_dim=2)
    _fill(buffer, 5)
    assert (buffer.size, buffer.cursor) == (3, 2)
    # Slots 0 and 1 were overwritten by transitions 4 and 5; slot 2 still holds transition 3.
    assert buffer.reward.tolist() == [4.0, 5.0, 3.0]
    assert buffer.obs.tolist() == [[4.0, -4.0], [5.0, -5.0], [3.0, -3.0]]
    assert buffer.action.tolist() == [0, 1, 1]
    assert buffer.done.tolist() == [1.0, 0.0, 0.0]
    assert _sample_rewards(buffer) == {3.0, 4.0, 5.0}


def test_sample_returns_whole_stored_transitions() -> None:
    buffer = ReplayBuffer(capacity=4, obs_dim=2)
    _fill(buffer, 9)
    obs, action, reward, next_obs, done = buffer.sample(64, np.random.default_rng(1))
    assert obs.shape == next_obs.shape == (64, 2)
    assert action.shape == reward.shape == done.shape == (64,)
    assert (obs.dtype, action.dtype, reward.dtype, done.dtype) == (
        torch.float32, torch.int64, torch.float32, torch.float32,
    )  # fmt: skip
    assert set(reward.tolist()) == {6.0, 7.0, 8.0, 9.0}
    # Each row is one transition, not fields mixed from different slots.
    assert torch.equal(obs[:, 0], reward)
    assert torch.equal(obs[:, 1], -reward)
    assert torch.equal(next_obs, obs + 1)
    assert torch.equal(action, reward.long() % 2)
    assert torch.equal(done, (reward.long() % 4 == 0).float())


def test_sample_is_reproducible_for_a_seed() -> None:
    buffer = ReplayBuffer(capacity=8, obs_dim=2)
    _fill(buffer, 8)
    first = buffer.sample(16, np.random.default_rng(7))
    again = buffer.sample(16, np.random.default_rng(7))
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))


def _constant_policy(action: int) -> nn.Module:
    q = nn.Linear(4, 2)
    with torch.no_grad():
        q.weight.zero_()
        q.bias.copy_(torch.tensor([1.0, 0.0]) if action == 0 else torch.tensor([0.0, 1.0]))
    return q


def test_greedy_returns_of_a_constant_policy() -> None:
    returns = greedy_returns(_constant_policy(1), range(2))
    assert len(returns) == 2
    assert all(isinstance(r, float) for r in returns)
    assert all(8.0 <= r <= 500.0 for r in returns)
    assert all(r == int(r) for r in returns)  # one point per step survived
    assert greedy_returns(_constant_policy(1), range(2)) == returns


def test_greedy_returns_depend_on_the_seed_and_the_action() -> None:
    right = greedy_returns(_constant_policy(1), range(5))
    left = greedy_returns(_constant_policy(0), range(5))
    assert len(set(right)) > 1  # each seed starts the cart elsewhere
    assert right != left
    assert max(right + left) < 195.0  # always pushing one way never balances the pole
