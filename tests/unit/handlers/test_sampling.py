"""The text sampler: counter-based draws (a function of the seed and the position only), tokens drawn with the
probabilities softmax(logits / T) over the top-k gives, greedy at temperature 0, every row of a batch its own."""

from __future__ import annotations

import math
import statistics

import torch

from handlers.sampling import MAX_SEED, Prompt, Sampler, uniform


def _prompt(temperature: float = 1.0, top_k: int = 0, seed: int = 0) -> Prompt:
    return Prompt(torch.tensor([0]), 10, temperature, top_k, seed)


def test_a_draw_depends_on_the_seed_and_the_position_only() -> None:
    assert uniform(7, 3) == uniform(7, 3)
    draws = {uniform(seed, position) for seed in (0, 1, MAX_SEED) for position in range(100)}
    assert len(draws) == 300  # no two alike
    assert all(0 <= d < 1 for d in draws)


def test_draws_are_uniform() -> None:
    """Means and counts per tenth of [0, 1) over 20,000 draws, along positions and along seeds (fixed inputs: the
    figures are the same at every run)."""
    for draws in ([uniform(42, p) for p in range(20_000)], [uniform(s, 0) for s in range(20_000)]):
        assert abs(statistics.fmean(draws) - 0.5) < 0.01
        counts = [0] * 10
        for d in draws:
            counts[int(d * 10)] += 1
        chi2 = sum((c - 2000) ** 2 / 2000 for c in counts)
        assert chi2 < 27.9  # the 0.001 quantile of chi-squared with 9 degrees of freedom


def test_tokens_come_with_the_softmax_probabilities() -> None:
    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0]])
    expected = torch.softmax(logits[0] / 0.7, dim=0).tolist()
    counts = [0] * 4
    for seed in range(4000):
        counts[int(Sampler([_prompt(0.7, seed=seed)], [0]).draw(logits, 0))] += 1
    for count, p in zip(counts, expected, strict=True):
        assert abs(count / 4000 - p) < 4 * math.sqrt(p * (1 - p) / 4000)


def test_top_k_keeps_the_k_most_likely_and_temperature_zero_is_the_most_likely() -> None:
    logits = torch.tensor([[0.5, 3.0, 2.0, -4.0, 1.0]] * 3)
    prompts = [_prompt(5.0, top_k=2, seed=s) for s in range(200)]
    drawn = {int(Sampler([p], [0]).draw(logits[:1], step)) for p in prompts for step in range(3)}
    assert drawn == {1, 2}
    sampler = Sampler([_prompt(0.0), _prompt(1e-300), _prompt(1.0, top_k=1, seed=3)], [0, 0, 0])
    assert sampler.draw(logits, 0).tolist() == [1, 1, 1]


def test_each_row_draws_as_it_would_alone_at_its_own_position() -> None:
    logits = torch.randn(4, 30, generator=torch.Generator().manual_seed(0))
    prompts = [_prompt(1.0, seed=1), _prompt(0.8, top_k=5, seed=2), _prompt(0.0), _prompt(1.3, seed=4)]
    starts = [0, 17, 3, 250]
    together = Sampler(prompts, starts).draw(logits, 5)
    alone = [int(Sampler([p], [s]).draw(logits[i:i + 1], 5)) for i, (p, s) in enumerate(zip(prompts, starts,
                                                                                          strict=True))]
    assert together.tolist() == alone
    sampler = Sampler(prompts, starts)
    sampler.keep([1, 3])  # rows that left the batch shift none of the others
    assert sampler.draw(logits[[1, 3]], 5).tolist() == [alone[1], alone[3]]
