"""Python's bundled documentation text (`pydoc_data.topics`) as a character corpus."""

from __future__ import annotations

from dataclasses import dataclass

import torch

VALIDATION_FRACTION = 0.1


@dataclass(frozen=True)
class CharCorpus:
    """A text encoded as character ids, with its vocabulary and a contiguous train/validation split."""

    vocab: list[str]
    train: torch.Tensor
    validation: torch.Tensor

    def encode(self, text: str) -> torch.Tensor:
        """Character ids of a text; characters outside the vocabulary are an error."""
        index = {ch: i for i, ch in enumerate(self.vocab)}
        missing = sorted({ch for ch in text if ch not in index})
        if missing:
            raise ValueError(f"characters outside the vocabulary: {missing!r}")
        return torch.tensor([index[ch] for ch in text], dtype=torch.long)


def pydoc_text() -> str:
    """The text of every pydoc topic, in a stable order."""
    from pydoc_data.topics import topics

    return "\n\n".join(topics[key] for key in sorted(topics))


def load_corpus(text: str | None = None, holdout: str = "test") -> CharCorpus:
    """Encode a text (pydoc's by default) and hold out its last tenth for validation.

    `holdout="validation"` (tuning) holds out the last tenth of the training part instead, so tuning never
    scores on the text the floor is measured on."""
    text = pydoc_text() if text is None else text
    if len(text) < 100:
        raise ValueError("the corpus needs at least 100 characters")
    vocab = sorted(set(text))
    index = {ch: i for i, ch in enumerate(vocab)}
    encoded = torch.tensor([index[ch] for ch in text], dtype=torch.long)
    cut = int(len(encoded) * (1 - VALIDATION_FRACTION))
    if holdout == "validation":
        encoded = encoded[:cut]
        cut = int(len(encoded) * (1 - VALIDATION_FRACTION))
    elif holdout != "test":
        raise ValueError(f"holdout must be 'test' or 'validation', got {holdout!r}")
    return CharCorpus(vocab, encoded[:cut], encoded[cut:])


def unigram_entropy(ids: torch.Tensor, vocab_size: int) -> float:
    """Entropy in nats of the character frequencies: the cross-entropy of a model that ignores context."""
    counts = torch.bincount(ids, minlength=vocab_size).double()
    p = counts[counts > 0] / counts.sum()
    return float(-(p * p.log()).sum())
