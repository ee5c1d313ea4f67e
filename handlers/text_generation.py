"""Handler for the character language model: prompt → seeded continuation, whole or one chunk at a time."""

from typing import Any

import torch

from handlers.base import SignatureHandler
from handlers.checks import integer
from handlers.errors import InvalidInput
from handlers.generation_step import Job, Resume
from handlers.sampling import Prompt, Sampler, parse_prompt
from handlers.wire import Request, Response

MAX_PROMPT_CHARS = 2000


class TextGenerationHandler(SignatureHandler):
    """`{"prompt", "max_new_tokens", "temperature", "top_k", "seed"}` → `{"text", "seed"}`; with `"step": n`
    (and later `"resume"`) one chunk of n tokens at a time (handlers/generation_step.py).

    Prompts are read in one pass per length; the sampling steps then run the whole batch through the model and
    the sampler together, each row drawing from its own seed (handlers/sampling.py)."""

    def setup(self) -> None:
        self.vocab: list[str] = list(self.signature["vocab"])
        self.index = {ch: i for i, ch in enumerate(self.vocab)}
        self.cap = int(self.signature["max_new_tokens"])
        _, self.layers, self.hidden = (int(d) for d in self.signature["inputs"][1]["shape"])
        self.one_step = self.served_inputs()[0]["shape"][1] == 1

    def parse(self, request: Request) -> Job:
        fields = request.fields
        if request.raw is not None:
            try:
                fields = {"prompt": request.raw.decode("utf-8")}
            except UnicodeDecodeError:
                raise InvalidInput("a raw prompt must be UTF-8 text") from None
        step = fields.get("step")
        if step is not None:
            fields = {**fields, "max_new_tokens": integer(step, "step", 1, self.cap)}
        if "resume" not in fields:
            prompt = self._prompt(fields)
            return Job(prompt, stepped=step is not None)
        if step is None:
            raise InvalidInput("'resume' needs 'step' (how many tokens to generate)")
        if "prompt" in fields or "text" in fields:
            raise InvalidInput("a resumed step takes no 'prompt': it continues the text it was given")
        resume = Resume.decode(fields["resume"], len(self.vocab), (self.layers, self.hidden))
        options = self._prompt({**fields, "prompt": "", "seed": 0})
        prompt = Prompt(torch.tensor([resume.token]), options.max_new_tokens, options.temperature, options.top_k,
                        resume.seed)
        return Job(prompt, resume.state, resume.position, stepped=True)

    def _prompt(self, fields: dict[str, Any]) -> Prompt:
        return parse_prompt(fields, self.index, self.cap, MAX_PROMPT_CHARS,
                            float(self.signature.get("default_temperature", 0.8)),
                            int(self.signature.get("default_top_k", 0)))

    def predict(self, items: list[Any]) -> list[Response]:
        jobs: list[Job] = items
        prompts = [job.prompt for job in jobs]
        state, logits = self._read_prompts(jobs)
        sampler = Sampler(prompts, [job.position for job in jobs], self.device)
        produced: list[list[int]] = [[] for _ in jobs]
        ends: list[Resume | None] = [None] * len(jobs)
        rows = list(range(len(jobs)))  # the rows still generating, in batch order
        for step in range(max(p.max_new_tokens for p in prompts)):
            tokens = sampler.draw(logits, step)
            for i, row in enumerate(rows):
                produced[row].append(int(tokens[i]))
                if step == prompts[row].max_new_tokens - 1 and jobs[row].stepped:
                    # The state before this token is fed: the next chunk feeds it, as the next step would.
                    ends[row] = Resume(int(tokens[i]), state[i:i + 1].clone(), prompts[row].seed,
                                       jobs[row].position + step + 1)
            keep = [i for i, row in enumerate(rows) if step + 1 < prompts[row].max_new_tokens]
            if not keep:
                break
            if len(keep) < len(rows):  # finished rows leave the batch: no work is spent on text nobody gets
                index = torch.tensor(keep, device=state.device)
                state, tokens = state.index_select(0, index), tokens.index_select(0, index)
                rows = [rows[i] for i in keep]
                sampler.keep(keep)
            logits, state = self.model(tokens.view(-1, 1), state)
            logits = logits[:, -1]
        return [self._reply(ids, job, end) for ids, job, end in zip(produced, jobs, ends, strict=True)]

    def _reply(self, ids: list[int], job: Job, end: Resume | None) -> Response:
        text = "".join(self.vocab[t] for t in ids)
        if end is None:
            return Response({"text": text, "seed": job.prompt.seed})
        return Response({"text": text, "seed": job.prompt.seed, "resume": end.encode()})

    def _read_prompts(self, jobs: list[Job]) -> tuple[torch.Tensor, torch.Tensor]:
        """Every job's state after its prompt and its next-token logits, in batch order. Prompts of one length
        are read in one call (a resumed step's prompt is its one last token, so the steps of many streams are)."""
        by_length: dict[int, list[int]] = {}
        for i, job in enumerate(jobs):
            by_length.setdefault(len(job.prompt.tokens), []).append(i)
        states: list[torch.Tensor] = [self._zeros(0)] * len(jobs)
        last: list[torch.Tensor] = [self._zeros(0)] * len(jobs)
        for rows in by_length.values():
            tokens = torch.stack([jobs[i].prompt.tokens for i in rows]).to(self.device)
            start = torch.cat([self._start(jobs[i]) for i in rows])
            logits, state = self._read_prompt(tokens, start)
            for k, i in enumerate(rows):
                states[i], last[i] = state[k:k + 1], logits[k, -1]
        return torch.cat(states), torch.stack(last)

    def _read_prompt(self, tokens: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The prompt's logits and final state: in one call, or one token per call where the served file
        is a single GRU step (the exported runtimes, whose graphs fix the sequence length)."""
        if not self.one_step:
            logits, state = self.model(tokens, state)
            return logits, state
        for position in range(tokens.shape[1]):
            logits, state = self.model(tokens[:, position:position + 1], state)
        return logits, state

    def _start(self, job: Job) -> torch.Tensor:
        """The state a job's prompt is read from: where its previous chunk ended, or zeros."""
        return self._zeros(1) if job.state is None else job.state.to(self.device)

    def _zeros(self, batch: int) -> torch.Tensor:
        return torch.zeros(batch, self.layers, self.hidden, device=self.device)
