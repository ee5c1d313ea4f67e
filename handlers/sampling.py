"""Request options and sampling for the generative handlers: seeded, so the same seed gives the same output."""

import secrets
from dataclasses import dataclass
from typing import Any

import torch

from handlers.checks import bounded, integer
from handlers.errors import InvalidInput

MAX_SEED = 2**63 - 1
GREEDY_BELOW = 1e-4  # temperatures below are greedy: float32 logits divided by less overflow


def seed_of(fields: dict[str, Any]) -> int:
    """The request's seed, or a fresh random one (returned to the client so it can reproduce the output)."""
    if fields.get("seed") is None:
        return secrets.randbits(63)
    return integer(fields["seed"], "seed", 0, MAX_SEED)


@dataclass(frozen=True)
class Prompt:
    """A validated text-generation request."""

    tokens: torch.Tensor
    max_new_tokens: int
    temperature: float
    top_k: int
    seed: int


def parse_prompt(fields: dict[str, Any], index: dict[str, int], cap: int, max_prompt: int,
                 default_temperature: float = 0.8, default_top_k: int = 0) -> Prompt:
    """Validate prompt and options against the vocabulary and the model's cap on new tokens."""
    prompt = fields.get("prompt", fields.get("text"))
    if not isinstance(prompt, str):
        raise InvalidInput("'prompt' must be a string")
    if len(prompt) > max_prompt:
        raise InvalidInput(f"'prompt' has {len(prompt)} characters; at most {max_prompt}")
    unknown = sorted({ch for ch in prompt if ch not in index})
    if unknown:
        shown = ", ".join(repr(ch) for ch in unknown[:10])
        raise InvalidInput(f"'prompt' has characters the model never saw: {shown}")
    text = prompt or "\n"  # an empty prompt starts a new line
    return Prompt(
        tokens=torch.tensor([index[ch] for ch in text], dtype=torch.long),
        max_new_tokens=integer(fields.get("max_new_tokens", min(64, cap)), "max_new_tokens", 1, cap),
        temperature=bounded(fields.get("temperature", default_temperature), "temperature", 0.0, 5.0),
        top_k=integer(fields.get("top_k", default_top_k), "top_k", 0, len(index)),
        seed=seed_of(fields),
    )


MASK64 = 2**64 - 1
GOLDEN = 0x9E3779B97F4A7C15


def _mix64(x: int) -> int:
    """SplitMix64's finaliser: a bijection of 64-bit integers that scatters every input bit over the output."""
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK64
    return x ^ (x >> 31)


def uniform(seed: int, position: int) -> float:
    """The draw in [0, 1) for the token at `position` (0: the first new one) of the continuation with `seed`.

    A counter-based generator (SplitMix64 keyed by the seed, counting positions): the draw depends on the seed
    and the position only, so a continuation resumed at any position from (seed, position) goes on exactly as one
    request would, and the state to carry is two integers, not a generator's."""
    key = _mix64(seed & MASK64)
    return (_mix64((key + (position + 1) * GOLDEN) & MASK64) >> 11) * 2.0**-53


class Sampler:
    """One next token per row of a batch: greedy at temperature 0, else softmax(logits / T) over the top-k, drawn by
    inverse transform with each row's `uniform(seed, position)`. The whole batch in a few tensor operations; rows
    that finish leave it (`keep`), as they leave the model's batch."""

    def __init__(self, prompts: list[Prompt], starts: list[int], device: torch.device | str = "cpu") -> None:
        self.seeds = [p.seed for p in prompts]
        self.starts = list(starts)  # each row's position before its first token here
        self.temperature = torch.tensor([[max(p.temperature, GREEDY_BELOW)] for p in prompts], device=device)
        self.greedy = torch.tensor([p.temperature < GREEDY_BELOW for p in prompts], device=device)
        self.top_k = max(p.top_k for p in prompts)  # the most any row keeps (0: none has a top-k)
        self.kth = torch.tensor([[max(p.top_k, 1) - 1] for p in prompts], device=device)
        self.all_tokens = torch.tensor([p.top_k == 0 for p in prompts], device=device)
        self.any_greedy = bool(self.greedy.any())

    def keep(self, rows: list[int]) -> None:
        """Only these rows (indices into the current ones, in order) go on."""
        index = torch.tensor(rows, device=self.temperature.device)
        self.seeds, self.starts = [self.seeds[i] for i in rows], [self.starts[i] for i in rows]
        self.temperature, self.greedy = self.temperature.index_select(0, index), self.greedy.index_select(0, index)
        self.kth, self.all_tokens = self.kth.index_select(0, index), self.all_tokens.index_select(0, index)

    def draw(self, logits: torch.Tensor, step: int) -> torch.Tensor:
        """The current rows' tokens (`logits` has one row each) at their `step`-th token of this batch."""
        scaled = logits / self.temperature
        if self.top_k:
            kth = torch.topk(scaled, self.top_k, dim=-1).values.gather(1, self.kth)
            kth.masked_fill_(self.all_tokens.unsqueeze(1), float("-inf"))
            scaled = scaled.masked_fill(scaled < kth, float("-inf"))
        cumulative = torch.softmax(scaled, dim=-1).double().cumsum(dim=-1)
        total = cumulative[:, -1:]
        draws = torch.tensor([[uniform(seed, start + step)] for seed, start in zip(self.seeds, self.starts,
                                                                                    strict=True)],
                             dtype=torch.float64, device=logits.device)
        # Strictly below the total, the first cumulative sum above the target is a token with some probability.
        target = torch.minimum(draws * total, torch.nextafter(total, torch.zeros_like(total)))
        tokens = torch.searchsorted(cumulative, target, right=True).squeeze(1)
        return torch.where(self.greedy, logits.argmax(dim=-1), tokens) if self.any_greedy else tokens
