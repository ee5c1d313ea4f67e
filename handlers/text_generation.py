"""Handler for the character language model: prompt → seeded continuation."""

from typing import Any

import torch

from handlers.base import SignatureHandler
from handlers.errors import InvalidInput
from handlers.sampling import Prompt, parse_prompt, sample
from handlers.wire import Request, Response

MAX_PROMPT_CHARS = 2000


class TextGenerationHandler(SignatureHandler):
    """`{"prompt", "max_new_tokens", "temperature", "top_k", "seed"}` → `{"text", "seed"}`.

    Each prompt is read on its own (prompts differ in length); the sampling steps then run the whole batch
    through the model together, each row with its own seeded generator."""

    def setup(self) -> None:
        self.vocab: list[str] = list(self.signature["vocab"])
        self.index = {ch: i for i, ch in enumerate(self.vocab)}
        self.cap = int(self.signature["max_new_tokens"])
        _, self.layers, self.hidden = (int(d) for d in self.signature["inputs"][1]["shape"])
        self.one_step = self.served_inputs()[0]["shape"][1] == 1

    def parse(self, request: Request) -> Prompt:
        fields = request.fields
        if request.raw is not None:
            try:
                fields = {"prompt": request.raw.decode("utf-8")}
            except UnicodeDecodeError:
                raise InvalidInput("a raw prompt must be UTF-8 text") from None
        return parse_prompt(fields, self.index, self.cap, MAX_PROMPT_CHARS,
                            float(self.signature.get("default_temperature", 0.8)),
                            int(self.signature.get("default_top_k", 0)))

    def predict(self, items: list[Any]) -> list[Response]:
        prompts: list[Prompt] = items
        states, last = [], []
        for prompt in prompts:
            logits, state = self._read_prompt(prompt.tokens.unsqueeze(0).to(self.device))
            states.append(state)
            last.append(logits[0, -1])
        state, logits = torch.cat(states), torch.stack(last)
        generators = [torch.Generator(device=self.device).manual_seed(p.seed) for p in prompts]
        produced: list[list[int]] = [[] for _ in prompts]
        for step in range(max(p.max_new_tokens for p in prompts)):
            tokens = sample(logits, prompts, generators)
            for row, prompt in enumerate(prompts):
                if step < prompt.max_new_tokens:
                    produced[row].append(int(tokens[row]))
            logits, state = self.model(tokens.view(-1, 1), state)
            logits = logits[:, -1]
        return [Response({"text": "".join(self.vocab[t] for t in ids), "seed": p.seed})
                for ids, p in zip(produced, prompts, strict=True)]

    def _read_prompt(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The prompt's logits and final state: in one call, or one token per call where the served file
        is a single GRU step (the exported runtimes, whose graphs fix the sequence length)."""
        if not self.one_step:
            logits, state = self.model(tokens, self._zeros(1))
            return logits, state
        state = self._zeros(1)
        for position in range(tokens.shape[1]):
            logits, state = self.model(tokens[:, position:position + 1], state)
        return logits, state

    def _zeros(self, batch: int) -> torch.Tensor:
        return torch.zeros(batch, self.layers, self.hidden, device=self.device)
