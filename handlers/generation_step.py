"""The stateless step protocol of the text generator: one request generates one chunk of a continuation and
answers, beside the chunk, everything needed to generate the next one (docs/streaming.md).

A request with `"step": n` generates n tokens and answers `{"text", "seed", "resume"}`; a request with
`"resume"` (and `"step"`) continues from there. `resume` is opaque to the caller: the last sampled token
(not yet fed to the model), the recurrent state before it and the sampler's generator state, packed as
base64. The worker keeps nothing between chunks, so any worker can take any chunk, a caller that stops
asking stops the generation, and the chunks of many streams can share one forward pass.

Carrying the generator state (not only the seed) makes the concatenated chunks the same text, character
for character, as one request with the same seed: every chunk continues the same random sequence."""

import base64
import binascii
import struct
from dataclasses import dataclass

import torch

from handlers.errors import InvalidInput
from handlers.sampling import Prompt

_TOKEN = struct.Struct(">I")


@dataclass(frozen=True)
class Job:
    """One request of a batch: its prompt (for a resumed one, the last sampled token) and where it starts."""

    prompt: Prompt
    state: torch.Tensor | None = None  # [1, L, H] before `prompt.tokens`; None: zeros
    rng: torch.Tensor | None = None  # the generator's state; None: seeded with `prompt.seed`
    stepped: bool = False  # answer with `resume`


@dataclass(frozen=True)
class Resume:
    """Where a chunk ended: decoded from, or encoded to, the `resume` field."""

    token: int
    state: torch.Tensor
    rng: torch.Tensor

    def encode(self) -> str:
        """The opaque base64 string sent back to the caller."""
        packed = (_TOKEN.pack(self.token) + self.state.detach().cpu().contiguous().numpy().tobytes()
                  + self.rng.cpu().numpy().tobytes())
        return base64.b64encode(packed).decode("ascii")

    @classmethod
    def decode(cls, value: object, vocab: int, state_shape: tuple[int, int], rng_bytes: int) -> "Resume":
        """Validate a `resume` field: its size must match this model, its token the vocabulary."""
        if not isinstance(value, str):
            raise InvalidInput("'resume' must be the string a previous step answered")
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput("'resume' is not valid base64") from None
        state_bytes = 4 * state_shape[0] * state_shape[1]
        if len(raw) != _TOKEN.size + state_bytes + rng_bytes:
            raise InvalidInput("'resume' does not come from this model (wrong size)")
        (token,) = _TOKEN.unpack_from(raw)
        if token >= vocab:
            raise InvalidInput("'resume' does not come from this model (token outside the vocabulary)")
        state = torch.frombuffer(bytearray(raw[_TOKEN.size:_TOKEN.size + state_bytes]), dtype=torch.float32)
        if not bool(torch.isfinite(state).all()):
            raise InvalidInput("'resume' holds a state that is not finite")
        rng = torch.frombuffer(bytearray(raw[_TOKEN.size + state_bytes:]), dtype=torch.uint8)
        return cls(token, state.view(1, *state_shape), rng)


def generator_for(job: Job, device: torch.device) -> torch.Generator:
    """The job's sampler: seeded, or restored where the previous chunk left it."""
    generator = torch.Generator(device=device)
    if job.rng is None:
        return generator.manual_seed(job.prompt.seed)
    try:
        generator.set_state(job.rng)
    except RuntimeError:
        raise InvalidInput("'resume' holds a generator state this worker cannot restore") from None
    return generator


def rng_state_size(device: torch.device) -> int:
    """How many bytes a generator's state takes on `device` (a CPU Mersenne twister's is 5056)."""
    return int(torch.Generator(device=device).get_state().numel())
