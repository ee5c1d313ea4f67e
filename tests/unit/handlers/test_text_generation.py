"""The text generation handler: seeded sampling, greedy decoding, the cap on new tokens and the vocabulary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from handlers import sampling
from handlers.text_generation import TextGenerationHandler
from tests.unit.handlers import harness, tiny
from tests.unit.handlers.tiny import MAX_NEW_TOKENS, VOCAB

model_dir, worker, module = harness.kind_fixtures("text-generation", TextGenerationHandler)


def _greedy(module: Any, prompt: str, steps: int) -> str:
    """Greedy decoding straight from the module: feed the prompt, then always the most likely character."""
    state = torch.zeros(1, 1, tiny.HIDDEN)
    logits, state = module(torch.tensor([[VOCAB.index(ch) for ch in prompt]]), state)
    out = []
    for _ in range(steps):
        token = int(logits[0, -1].argmax())
        out.append(VOCAB[token])
        logits, state = module(torch.tensor([[token]]), state)
    return "".join(out)


def _generate(worker: harness.Worker, **body: Any) -> dict[str, Any]:
    (reply,) = worker.handle([{"body": body}])
    assert (reply.status, reply.content_type) == (200, "application/json"), reply.body
    result: dict[str, Any] = reply.json()
    return result


def test_same_seed_gives_the_same_text(worker: harness.Worker) -> None:
    first = _generate(worker, prompt="hello", seed=7)
    assert first == _generate(worker, prompt="hello", seed=7)
    assert first["seed"] == 7
    assert set(first) == {"text", "seed"}


def test_different_seeds_give_different_texts(worker: harness.Worker) -> None:
    texts = {_generate(worker, prompt="hello", seed=seed, temperature=1.0)["text"] for seed in range(4)}
    assert len(texts) == 4


def test_text_has_max_new_tokens_characters_of_the_vocabulary(worker: harness.Worker) -> None:
    for n in (1, 5, MAX_NEW_TOKENS):
        text = _generate(worker, prompt="abc", max_new_tokens=n, seed=1)["text"]
        assert len(text) == n
        assert set(text) <= set(VOCAB)
    assert len(_generate(worker, prompt="abc", seed=1)["text"]) == MAX_NEW_TOKENS  # default: min(64, the cap)


def test_temperature_zero_is_greedy_without_a_seed(worker: harness.Worker, module: Any) -> None:
    first = _generate(worker, prompt="the cat", temperature=0, max_new_tokens=12)
    second = _generate(worker, prompt="the cat", temperature=0, max_new_tokens=12)
    assert first["text"] == second["text"] == _greedy(module, "the cat", 12)
    assert first["seed"] != second["seed"]  # a fresh seed each time; greedy does not use it


def test_top_k_one_is_greedy(worker: harness.Worker, module: Any) -> None:
    for seed in (1, 2):
        text = _generate(worker, prompt="the cat", temperature=1.5, top_k=1, seed=seed, max_new_tokens=12)["text"]
        assert text == _greedy(module, "the cat", 12)


def test_an_empty_prompt_starts_a_new_line(worker: harness.Worker, module: Any) -> None:
    assert _generate(worker, prompt="", temperature=0, max_new_tokens=6)["text"] == _greedy(module, "\n", 6)


def test_a_raw_text_body_is_the_prompt(worker: harness.Worker, module: Any) -> None:
    (reply,) = worker.send(harness.raw_request(b"the cat", "text/plain"))
    assert reply.status == 200
    assert len(reply.json()["text"]) == MAX_NEW_TOKENS
    (reply,) = worker.handle([{"body": bytearray(b"the cat")}])  # octet-stream: bytes, not str
    assert reply.status == 200


def test_a_raw_text_prompt_may_start_with_a_bracket(worker: harness.Worker) -> None:
    """text/plain says the body is text: a prompt that starts with '[' or '{' is not JSON."""
    (reply,) = worker.send(harness.raw_request(b"[a] is a list", "text/plain"))
    assert reply.status == 200, reply.body
    assert len(reply.json()["text"]) == MAX_NEW_TOKENS


def test_the_response_includes_a_fresh_seed_that_reproduces_the_text(worker: harness.Worker,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The seed returned is the one to send back: replaying it gives the same text. Fresh seeds are 63-bit."""
    seed = 2**62 + 12345
    monkeypatch.setattr(sampling.secrets, "randbits", lambda bits: seed)
    first = _generate(worker, prompt="hello")
    assert first["seed"] == seed
    monkeypatch.undo()
    assert _generate(worker, prompt="hello", seed=first["seed"]) == first


@pytest.mark.parametrize("seed", [0, 2**53 + 1, 2**62 + 1, 2**63 - 1])
def test_any_63_bit_seed_is_echoed_exactly(worker: harness.Worker, seed: int) -> None:
    assert _generate(worker, prompt="a", max_new_tokens=1, seed=seed)["seed"] == seed


def test_batched_requests_give_the_texts_each_gives_alone(worker: harness.Worker) -> None:
    bodies = [{"prompt": "hello", "seed": 3}, {"prompt": "a much longer prompt, isn't it?", "seed": 4,
                                               "max_new_tokens": 7, "temperature": 1.2, "top_k": 5}]
    alone = [_generate(worker, **body) for body in bodies]
    together = worker.handle([{"body": body} for body in bodies])
    assert [r.status for r in together] == [200, 200]
    assert [r.json() for r in together] == alone


def test_a_tiny_temperature_is_greedy_and_does_not_fail_the_batch(worker: harness.Worker, module: Any) -> None:
    """0 < temperature is allowed; dividing float32 logits by 1e-300 gives inf/NaN probabilities. The limit
    of sampling as the temperature falls to 0 is greedy decoding, and a neighbour in the batch must not care."""
    replies = worker.handle([{"body": {"prompt": "the cat", "temperature": 1e-300, "max_new_tokens": 12}},
                             {"body": {"prompt": "hello", "seed": 3}}])
    assert [r.status for r in replies] == [200, 200], [r.body for r in replies]
    assert replies[0].json()["text"] == _greedy(module, "the cat", 12)
    assert replies[1].json() == _generate(worker, prompt="hello", seed=3)


def test_the_signature_default_temperature_is_used(tmp_path: Path, module: Any) -> None:
    """signature.json carries default_temperature/default_top_k; a request without them gets those."""
    greedy_dir = tiny.build("text-generation", tmp_path, default_temperature=0.0)
    worker = harness.start_worker(TextGenerationHandler, greedy_dir)
    assert _generate(worker, prompt="the cat", seed=5, max_new_tokens=12)["text"] == _greedy(module, "the cat", 12)


@pytest.mark.parametrize(("body", "message"), [
    ({"prompt": "a", "max_new_tokens": MAX_NEW_TOKENS + 1}, "'max_new_tokens' must be between 1 and 20, got 21"),
    ({"prompt": "a", "max_new_tokens": 0}, "'max_new_tokens' must be between 1 and 20, got 0"),
    ({"prompt": "a", "max_new_tokens": 2.5}, "'max_new_tokens' must be an integer, got 2.5"),
    ({"prompt": "héllo 🙂"}, "'prompt' has characters the model never saw: 'é', '🙂'"),
    ({"prompt": "ABC"}, "'prompt' has characters the model never saw: 'A', 'B', 'C'"),
    ({"prompt": 42}, "'prompt' must be a string"),
    ({"seed": 1}, "'prompt' must be a string"),
    ({"prompt": "a" * 2001}, "'prompt' has 2001 characters; at most 2000"),
    ({"prompt": "a", "temperature": -0.1}, "'temperature' must be between 0 and 5, got -0.1"),
    ({"prompt": "a", "temperature": float("nan")}, "'temperature' must be finite and within float32 range"),
    ({"prompt": "a", "top_k": len(VOCAB) + 1}, f"'top_k' must be between 0 and {len(VOCAB)}, got {len(VOCAB) + 1}"),
    ({"prompt": "a", "seed": -1}, "'seed' must be between 0 and 9223372036854775807, got -1"),
    ({"prompt": "a", "seed": "lucky"}, "'seed' must be a number, got 'lucky'"),
    ({"prompt": "a", "seed": True}, "'seed' must be a number, got bool"),
])
def test_bad_requests_are_refused(worker: harness.Worker, body: dict[str, Any], message: str) -> None:
    (reply,) = worker.handle([{"body": body}])
    assert reply.error(400).startswith(message)


def test_a_raw_prompt_that_is_not_utf8_is_refused(worker: harness.Worker) -> None:
    (reply,) = worker.handle([{"body": bytearray(b"caf\xe9")}])
    assert reply.error(400) == "a raw prompt must be UTF-8 text"


def test_bad_requests_in_a_batch_fail_alone(worker: harness.Worker) -> None:
    replies = worker.handle([{"body": {"prompt": "hello", "seed": 3}}, {"body": {"prompt": "😀"}},
                             {"body": {"prompt": "abc", "seed": 9}}, {"body": {"prompt": "a", "max_new_tokens": 99}}])
    assert [r.status for r in replies] == [200, 400, 200, 400]
    assert replies[0].json() == _generate(worker, prompt="hello", seed=3)
    assert replies[2].json() == _generate(worker, prompt="abc", seed=9)
