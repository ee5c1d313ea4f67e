"""Request options and sampling for the generative handlers: seeded, so the same seed gives the same output."""

import secrets
from dataclasses import dataclass
from typing import Any

import torch

from handlers.checks import bounded, integer
from handlers.errors import InvalidInput

MAX_SEED = 2**63 - 1


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


def sample(logits: torch.Tensor, prompts: list[Prompt], generators: list[torch.Generator]) -> torch.Tensor:
    """One next token per row: greedy at temperature 0, else softmax(logits / T) over the top-k."""
    tokens = []
    for row, prompt, generator in zip(logits, prompts, generators, strict=True):
        if prompt.temperature < 1e-4:
            tokens.append(row.argmax())
            continue
        scaled = row / prompt.temperature
        if prompt.top_k:
            kth = torch.topk(scaled, prompt.top_k).values[-1]
            scaled = scaled.masked_fill(scaled < kth, float("-inf"))
        tokens.append(torch.multinomial(torch.softmax(scaled, dim=-1), 1, generator=generator)[0])
    return torch.stack(tokens)
