"""A character-level GRU language model with an explicit recurrent state, so generation can continue
token by token without re-reading the prompt."""


from collections.abc import Mapping
from typing import Any

import torch
from torch import nn


class CharGRU(nn.Module):
    """tokens [B, T] and state [B, L, H] → next-character logits [B, T, V] and the new state [B, L, H].

    The state is batch-first (unlike nn.GRU's) so every tensor of the signature has the batch in front."""

    def __init__(self, vocab_size: int, embedding: int, hidden: int, layers: int, dropout: float) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embedding)
        self.rnn = nn.GRU(embedding, hidden, num_layers=layers, batch_first=True,
                          dropout=dropout if layers > 1 else 0.0)
        self.head = nn.Linear(hidden, vocab_size)

    def forward(self, tokens: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out, h = self.rnn(self.embed(tokens), state.transpose(0, 1).contiguous())
        return self.head(out), h.transpose(0, 1).contiguous()


def char_gru(dims: Mapping[str, int], hp: Mapping[str, Any]) -> nn.Module:
    """Build the language model from the vocabulary size and the spec's hyperparameters."""
    return CharGRU(dims["vocab_size"], int(hp["embedding"]), int(hp["hidden"]), int(hp["layers"]),
                   float(hp["dropout"]))
