"""Recipe for the DQN policy on CartPole-v1: replay buffer, target network, double-DQN targets.

The checkpoint kept is the best on validation episodes; the floor is measured on other seeds."""

from __future__ import annotations

import copy

import gymnasium as gym
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812
from tqdm import tqdm

from training.recipes.base import RecipeContext, TrainResult

ENV_ID = "CartPole-v1"
VALIDATION_SEEDS = range(1000, 1010)
TEST_SEEDS = range(10_000, 10_020)  # the floor: 20 seeded greedy episodes
TUNING_SEEDS = range(20_000, 20_020)  # scored when tuning, so the floor's episodes never pick hyperparameters
ACTIONS = ["push_left", "push_right"]


class ReplayBuffer:
    """A fixed-size ring of transitions, sampled uniformly."""

    def __init__(self, capacity: int, obs_dim: int) -> None:
        self.obs = np.zeros((capacity, obs_dim), dtype=np.float32)
        self.next_obs = np.zeros((capacity, obs_dim), dtype=np.float32)
        self.action = np.zeros(capacity, dtype=np.int64)
        self.reward = np.zeros(capacity, dtype=np.float32)
        self.done = np.zeros(capacity, dtype=np.float32)
        self.size, self.cursor, self.capacity = 0, 0, capacity

    def add(self, obs: np.ndarray, action: int, reward: float, next_obs: np.ndarray, done: bool) -> None:
        """Store one transition, overwriting the oldest when full."""
        i = self.cursor
        self.obs[i], self.action[i], self.reward[i] = obs, action, reward
        self.next_obs[i], self.done[i] = next_obs, done
        self.cursor = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, batch: int, rng: np.random.Generator) -> tuple[torch.Tensor, ...]:
        """A uniform minibatch as tensors."""
        idx = rng.integers(0, self.size, size=batch)
        return tuple(torch.from_numpy(a[idx]) for a in (self.obs, self.action, self.reward, self.next_obs, self.done))


@torch.inference_mode()
def greedy_returns(q: nn.Module, seeds: range) -> list[float]:
    """Undiscounted return of the greedy policy in one episode per seed."""
    env = gym.make(ENV_ID)
    returns = []
    for seed in seeds:
        obs, _ = env.reset(seed=seed)
        total, done = 0.0, False
        while not done:
            action = int(q(torch.from_numpy(obs).unsqueeze(0)).argmax())
            obs, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    env.close()
    return returns


def dqn(ctx: RecipeContext) -> TrainResult:
    """Epsilon-greedy exploration, Huber loss on double-DQN targets, periodic validation."""
    hp = ctx.hparams
    env = gym.make(ENV_ID)
    obs_space, action_space = env.observation_space, env.action_space
    assert isinstance(obs_space, gym.spaces.Box)
    assert isinstance(action_space, gym.spaces.Discrete)
    dims = {"observation_dim": int(obs_space.shape[0]), "n_actions": int(action_space.n)}
    q = ctx.spec.build(dims, hp)
    target = copy.deepcopy(q)
    optimizer = torch.optim.Adam(q.parameters(), lr=float(hp["lr"]))
    buffer = ReplayBuffer(int(hp["buffer_size"]), dims["observation_dim"])
    rng = np.random.default_rng(ctx.seed)
    steps, gamma = int(hp["steps"]), float(hp["gamma"])
    history: dict[str, list[float]] = {"episode_return": [], "validation_return": []}
    best, best_state = -1.0, copy.deepcopy(q.state_dict())
    obs, _ = env.reset(seed=ctx.seed)
    episode = 0.0
    for step in tqdm(range(steps), desc=ctx.spec.name, disable=not ctx.progress, leave=False):
        epsilon = max(float(hp["epsilon_end"]), 1.0 - step / float(hp["epsilon_decay_steps"]))
        if rng.random() < epsilon:
            action = int(rng.integers(dims["n_actions"]))
        else:
            with torch.inference_mode():
                action = int(q(torch.from_numpy(obs).unsqueeze(0)).argmax())
        next_obs, reward, terminated, truncated, _ = env.step(action)
        buffer.add(obs, action, float(reward), next_obs, terminated)  # truncation is not a terminal state
        obs, episode = next_obs, episode + float(reward)
        if terminated or truncated:
            history["episode_return"].append(episode)
            obs, _ = env.reset(seed=int(rng.integers(1 << 31)))
            episode = 0.0
        if step >= int(hp["warmup_steps"]):
            _learn(q, target, optimizer, buffer.sample(int(hp["batch_size"]), rng), gamma)
            if step % int(hp["target_every"]) == 0:
                target.load_state_dict(q.state_dict())
        if step >= int(hp["epsilon_decay_steps"]) and (step + 1) % int(hp["validate_every"]) == 0:
            score = float(np.mean(greedy_returns(q, VALIDATION_SEEDS)))
            history["validation_return"].append(score)
            if score > best:
                best, best_state = score, copy.deepcopy(q.state_dict())
            if best >= float(hp["stop_at_return"]):
                break
    env.close()
    q.load_state_dict(best_state)
    q.eval()
    test = greedy_returns(q, TEST_SEEDS if ctx.holdout == "test" else TUNING_SEEDS)
    metrics = {"mean_return": float(np.mean(test)), "min_return": float(np.min(test)),
               "validation_return": best, "episodes": float(len(history["episode_return"]))}
    example = torch.from_numpy(np.random.default_rng(ctx.seed).normal(0, 0.5, (16, 4)).astype(np.float32))
    extra = {"env": ENV_ID, "actions": ACTIONS,
             "observation_names": ["cart_position", "cart_velocity", "pole_angle", "pole_angular_velocity"]}
    return TrainResult(q, (example,), metrics, history, dims, extra)


def _learn(q: nn.Module, target: nn.Module, optimizer: torch.optim.Optimizer,
           batch: tuple[torch.Tensor, ...], gamma: float) -> None:
    obs, action, reward, next_obs, done = batch
    with torch.no_grad():
        best_next = q(next_obs).argmax(dim=1, keepdim=True)  # double DQN: online net picks, target net scores
        value = reward + gamma * (1.0 - done) * target(next_obs).gather(1, best_next).squeeze(1)
    loss = F.smooth_l1_loss(q(obs).gather(1, action.unsqueeze(1)).squeeze(1), value)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    nn.utils.clip_grad_norm_(q.parameters(), 10.0)
    optimizer.step()
