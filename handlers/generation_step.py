"""The stateless step protocol of the text generator: one request generates one chunk of a continuation and
answers, beside the chunk, everything needed to generate the next one (docs/streaming.md).

A request with `"step": n` generates n tokens and answers `{"text", "seed", "resume"}`; a request with
`"resume"` (and `"step"`) continues from there. `resume` is opaque to the caller: the last sampled token
(not yet fed to the model), the recurrent state before it, the seed and how many tokens were made, packed as
base64. The worker keeps nothing between chunks, so any worker can take any chunk, a caller that stops
asking stops the generation, and the chunks of many streams can share one forward pass.

The sampler draws each token from the seed and the token's position alone (handlers/sampling.py's `uniform`),
so the seed and the position are all of its state: the concatenated chunks are the same text, character for
character, as one request with the same seed, whatever the chunking."""

import base64
import binascii
import struct
from dataclasses import dataclass

import torch

from handlers.errors import InvalidInput
from handlers.sampling import MAX_SEED, Prompt

_HEAD = struct.Struct(">IQI")  # the token, the seed, the position (tokens made before the next one)


@dataclass(frozen=True)
class Job:
    """One request of a batch: its prompt (for a resumed one, the last sampled token) and where it starts."""

    prompt: Prompt
    state: torch.Tensor | None = None  # [1, L, H] before `prompt.tokens`; None: zeros
    position: int = 0  # tokens of the continuation made before this chunk
    stepped: bool = False  # answer with `resume`


@dataclass(frozen=True)
class Resume:
    """Where a chunk ended: decoded from, or encoded to, the `resume` field."""

    token: int
    state: torch.Tensor
    seed: int
    position: int

    def encode(self) -> str:
        """The opaque base64 string sent back to the caller."""
        packed = (_HEAD.pack(self.token, self.seed, self.position)
                  + self.state.detach().cpu().contiguous().numpy().tobytes())
        return base64.b64encode(packed).decode("ascii")

    @classmethod
    def decode(cls, value: object, vocab: int, state_shape: tuple[int, int]) -> "Resume":
        """Validate a `resume` field: its size must match this model, its token the vocabulary."""
        if not isinstance(value, str):
            raise InvalidInput("'resume' must be the string a previous step answered")
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput("'resume' is not valid base64") from None
        if len(raw) != _HEAD.size + 4 * state_shape[0] * state_shape[1]:
            raise InvalidInput("'resume' does not come from this model (wrong size)")
        token, seed, position = _HEAD.unpack_from(raw)
        if token >= vocab:
            raise InvalidInput("'resume' does not come from this model (token outside the vocabulary)")
        if seed > MAX_SEED:
            raise InvalidInput("'resume' holds a seed outside 0..2**63-1")
        state = torch.frombuffer(bytearray(raw[_HEAD.size:]), dtype=torch.float32)
        if not bool(torch.isfinite(state).all()):
            raise InvalidInput("'resume' holds a state that is not finite")
        return cls(token, state.view(1, *state_shape), seed, position)
