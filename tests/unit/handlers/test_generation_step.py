"""The text generator's step protocol: chunks that carry the recurrent and the sampler's state give, joined, the
text one request gives for the same seed; a bad `resume` or `step` is refused with a 400."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from handlers.text_generation import TextGenerationHandler
from tests.unit.handlers import harness, tiny
from tests.unit.handlers.tiny import MAX_NEW_TOKENS

model_dir, worker, module = harness.kind_fixtures("text-generation", TextGenerationHandler)


def _ok(reply: harness.Reply) -> dict[str, Any]:
    assert (reply.status, reply.content_type) == (200, "application/json"), reply.body
    body: dict[str, Any] = reply.json()
    return body


def _stepped(worker: harness.Worker, chunks: list[int], **options: Any) -> list[str]:
    """Generate a continuation chunk by chunk, sending each answer's `resume` back."""
    first = _ok(worker.handle([{"body": {**options, "step": chunks[0]}}])[0])
    texts, resume = [first["text"]], first["resume"]
    assert first["seed"] == options["seed"]
    options = {k: v for k, v in options.items() if k not in ("prompt", "seed")}
    for size in chunks[1:]:
        answer = _ok(worker.handle([{"body": {**options, "step": size, "resume": resume}}])[0])
        assert set(answer) == {"text", "seed", "resume"}
        texts.append(answer["text"])
        resume = answer["resume"]
    return texts


@pytest.mark.parametrize("chunks", [[1] * MAX_NEW_TOKENS, [3, 7, 10], [MAX_NEW_TOKENS], [19, 1], [2, 18]])
@pytest.mark.parametrize("options", [{"temperature": 1.0}, {"temperature": 1.3, "top_k": 4}, {"temperature": 0}])
def test_chunks_join_into_the_text_of_one_request(worker: harness.Worker, chunks: list[int],
                                                  options: dict[str, Any]) -> None:
    whole = _ok(worker.handle([{"body": {"prompt": "the cat", "seed": 11, "max_new_tokens": MAX_NEW_TOKENS,
                                         **options}}])[0])
    texts = _stepped(worker, chunks, prompt="the cat", seed=11, **options)
    assert [len(t) for t in texts] == chunks
    assert "".join(texts) == whole["text"]


def test_steps_of_several_streams_share_a_batch_and_stay_each_its_own(worker: harness.Worker) -> None:
    """Two streams' chunks in one batch (a resumed one beside a new one) give what each gives alone."""
    alone_a = _stepped(worker, [4, 6], prompt="hello", seed=1, temperature=1.0)
    alone_b = _stepped(worker, [5, 5], prompt="a longer prompt", seed=2, temperature=1.0)
    first_a = _ok(worker.handle([{"body": {"prompt": "hello", "seed": 1, "temperature": 1.0, "step": 4}}])[0])
    second_a, first_b = (_ok(r) for r in worker.handle([
        {"body": {"temperature": 1.0, "step": 6, "resume": first_a["resume"]}},
        {"body": {"prompt": "a longer prompt", "seed": 2, "temperature": 1.0, "step": 5}}]))
    second_b = _ok(worker.handle([{"body": {"temperature": 1.0, "step": 5, "resume": first_b["resume"]}}])[0])
    assert [first_a["text"], second_a["text"]] == alone_a
    assert [first_b["text"], second_b["text"]] == alone_b


def test_a_whole_request_beside_a_step_is_answered_as_before(worker: harness.Worker) -> None:
    whole = {"prompt": "hello", "seed": 3, "max_new_tokens": 9}
    alone = _ok(worker.handle([{"body": whole}])[0])
    together = worker.handle([{"body": whole}, {"body": {"prompt": "abc", "seed": 4, "step": 2}}])
    assert _ok(together[0]) == alone
    assert set(_ok(together[1])) == {"text", "seed", "resume"}


def _resume(worker: harness.Worker) -> str:
    resume: str = _ok(worker.handle([{"body": {"prompt": "abc", "seed": 4, "step": 2}}])[0])["resume"]
    return resume


def _with_token(resume: str, token: int) -> str:
    raw = bytearray(base64.b64decode(resume))
    raw[:4] = token.to_bytes(4, "big")
    return base64.b64encode(bytes(raw)).decode()


@pytest.mark.parametrize(("body", "message"), [
    ({"prompt": "a", "step": 0}, "'step' must be between 1 and 20, got 0"),
    ({"prompt": "a", "step": MAX_NEW_TOKENS + 1}, "'step' must be between 1 and 20, got 21"),
    ({"prompt": "a", "step": "many"}, "'step' must be a number, got 'many'"),
    ({"step": 2, "resume": 7}, "'resume' must be the string a previous step answered"),
    ({"step": 2, "resume": "not base64!"}, "'resume' is not valid base64"),
    ({"step": 2, "resume": base64.b64encode(b"short").decode()}, "'resume' does not come from this model (wrong size)"),
])
def test_bad_steps_are_refused(worker: harness.Worker, body: dict[str, Any], message: str) -> None:
    (reply,) = worker.handle([{"body": body}])
    assert reply.error(400) == message


def test_a_resume_needs_a_step_and_no_prompt(worker: harness.Worker) -> None:
    resume = _resume(worker)
    (no_step,) = worker.handle([{"body": {"resume": resume}}])
    assert no_step.error(400) == "'resume' needs 'step' (how many tokens to generate)"
    (with_prompt,) = worker.handle([{"body": {"resume": resume, "step": 2, "prompt": "x"}}])
    assert with_prompt.error(400) == "a resumed step takes no 'prompt': it continues the text it was given"


def test_a_resume_with_a_token_outside_the_vocabulary_is_refused(worker: harness.Worker) -> None:
    (reply,) = worker.handle([{"body": {"step": 2, "resume": _with_token(_resume(worker), len(tiny.VOCAB))}}])
    assert reply.error(400) == "'resume' does not come from this model (token outside the vocabulary)"


def test_a_bad_step_fails_alone_in_its_batch(worker: harness.Worker) -> None:
    replies = worker.handle([{"body": {"step": 2, "resume": "AAAA"}},
                             {"body": {"prompt": "abc", "seed": 4, "step": 2}}])
    assert replies[0].error(400) == "'resume' does not come from this model (wrong size)"
    assert _ok(replies[1])["text"] == _stepped(worker, [2], prompt="abc", seed=4)[0]


def test_a_resume_is_the_token_the_seed_the_position_and_the_state(worker: harness.Worker) -> None:
    first = _ok(worker.handle([{"body": {"prompt": "abc", "seed": 4, "step": 3}}])[0])
    raw = base64.b64decode(first["resume"])
    assert len(raw) == 16 + 4 * tiny.HIDDEN
    assert (int.from_bytes(raw[4:12], "big"), int.from_bytes(raw[12:16], "big")) == (4, 3)
    second = _ok(worker.handle([{"body": {"step": 2, "resume": first["resume"]}}])[0])
    assert second["seed"] == 4
    assert int.from_bytes(base64.b64decode(second["resume"])[12:16], "big") == 5


def test_a_resume_with_a_seed_outside_63_bits_is_refused(worker: harness.Worker) -> None:
    raw = bytearray(base64.b64decode(_resume(worker)))
    raw[4:12] = (2**63).to_bytes(8, "big")
    (reply,) = worker.handle([{"body": {"step": 2, "resume": base64.b64encode(bytes(raw)).decode()}}])
    assert reply.error(400) == "'resume' holds a seed outside 0..2**63-1"
