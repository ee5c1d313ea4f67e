"""One handler template on every runtime: the same tiny model served from TorchScript, ONNX Runtime and
AOTInductor gives the same answers, statuses and errors, the language model's one-step export included.

ONNX runs for every kind; AOTInductor (a gcc compile per model, so one here) for the kind whose export differs
in shape from its TorchScript module: the one-step language model. The curriculum's own model.pt2 files are
served on every kind in tests/integration/test_runtimes_stack.py."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image

from handlers import HANDLERS, runtimes
from tests.unit.handlers import harness, tiny
from tests.unit.handlers.approx import approx_json


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray((torch.linspace(0, 255, 64).reshape(8, 8)).to(torch.uint8).numpy()).save(buffer, format="PNG")
    return buffer.getvalue()


# Per kind: valid requests, then one the handler must refuse (every runtime refuses it alike).
REQUESTS: dict[str, list[Any]] = {
    "regression": [{"features": [[0.5, -1.0, 2.0], [0.0, 0.0, 0.0]]}, {"features": [1.0]}],
    "tabular-classification": [{"features": [1.0, 2.0, 3.0]}, {"features": "x"}],
    "image-classification": [bytearray(_png()), {"image": "not base64!"}],
    "text-generation": [{"prompt": "hello world", "max_new_tokens": 12, "seed": 3},
                        {"prompt": "a", "max_new_tokens": 5, "temperature": 0, "seed": 1}, {"prompt": "Ω"}],
    "image-generation": [{"digit": [5, 6], "seed": 2}, {"digit": 10}],
    "policy": [{"observation": [0.1, -0.2, 0.03, 0.4]}, {"observation": [1, 2]}],
}
CASES = [pytest.param(kind, "onnx", id=f"{kind}-onnx") for kind in REQUESTS] + [
    pytest.param("text-generation", "aoti", id="text-generation-aoti")]


def _handler(kind: str) -> type[Any]:
    module, name = HANDLERS[kind]
    return getattr(__import__(f"handlers.{module}", fromlist=[name]), name)  # type: ignore[no-any-return]


def _answers(worker: harness.Worker, kind: str) -> list[list[Any]]:
    replies = [worker.handle([{"body": body}])[0] for body in REQUESTS[kind]]
    return [[reply.status, reply.json()] for reply in replies]


@pytest.mark.parametrize(("kind", "runtime"), CASES)
def test_every_runtime_answers_as_torchscript_does(kind: str, runtime: str, tmp_path: Path) -> None:
    reference = harness.start_worker(_handler(kind), tiny.build(kind, tmp_path))
    worker = harness.start_worker(_handler(kind), tiny.build(kind, tmp_path, runtime=runtime))
    assert worker.handler.runtime == runtime
    assert worker.context.manifest["model"]["serializedFile"] == {"onnx": "model.onnx", "aoti": "model.pt2"}[runtime]
    expected = _answers(reference, kind)
    assert [status for status, _ in expected][-1] == 400  # the refusal case really is one
    assert _answers(worker, kind) == approx_json(expected, 1e-5)


def test_the_onnx_module_returns_tensors_as_the_eager_module(tmp_path: Path) -> None:
    model_dir = tiny.build("text-generation", tmp_path, runtime="onnx")
    module = runtimes.load("onnx", model_dir / "model.onnx", torch.device("cpu"))
    tokens, state = torch.tensor([[3], [4]]), torch.zeros(2, 1, tiny.HIDDEN)
    logits, next_state = module(tokens, state)
    eager_logits, eager_state = tiny.load_module(model_dir)(tokens, state)
    assert (logits.shape, next_state.shape) == (eager_logits.shape, eager_state.shape)
    assert torch.allclose(logits, eager_logits, atol=1e-5)
    assert torch.allclose(next_state, eager_state, atol=1e-5)


def test_an_unknown_runtime_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="unknown runtime 'tensorrt'; known: torchscript, aoti, onnx"):
        runtimes.load("tensorrt", Path("model.plan"), torch.device("cpu"))
