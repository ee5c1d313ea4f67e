"""The template every handler follows: initialisation from the signature, warm-up, and per-request failure."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import pytest
import torch
from ts.utils.util import list_classes_from_module

from handlers import EXPLAINED_KINDS, HANDLERS
from handlers.base import SignatureHandler
from handlers.regression import RegressionHandler
from handlers.text_generation import TextGenerationHandler
from tests.unit.handlers import harness, tiny


def _handler_class(kind: str) -> type[SignatureHandler]:
    module_name, class_name = HANDLERS[kind]
    module = importlib.import_module(f"handlers.{module_name}")
    (handler_class,) = list_classes_from_module(module)  # TorchServe's loader wants exactly one class
    assert handler_class.__name__ == class_name
    assert issubclass(handler_class, SignatureHandler)
    return handler_class


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture
def warm_ups(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The batch sizes warm-up runs the module at, recorded."""
    batches: list[int] = []
    original = SignatureHandler.example_inputs

    def recording(self: SignatureHandler, batch: int) -> tuple[torch.Tensor, ...]:
        batches.append(batch)
        return original(self, batch)

    monkeypatch.setattr(SignatureHandler, "example_inputs", recording)
    return batches


@pytest.fixture
def worker(models: Path) -> harness.Worker:
    model_dir = models / "regression"
    if not model_dir.exists():
        tiny.build("regression", models)
    return harness.start_worker(RegressionHandler, model_dir)


def test_every_kind_has_one_handler_class() -> None:
    assert sorted(HANDLERS) == sorted(tiny.BUILDERS)
    for kind in HANDLERS:
        _handler_class(kind)


def test_the_kinds_that_explain_are_the_ones_handlers_names() -> None:
    explaining = {kind for kind in HANDLERS if _handler_class(kind).explanation is not SignatureHandler.explanation}
    assert explaining == EXPLAINED_KINDS == {"regression", "tabular-classification", "image-classification"}


@pytest.mark.parametrize("kind", sorted(tiny.BUILDERS))
def test_initialize_reads_the_signature_and_warms_up(models: Path, warm_ups: list[int], kind: str) -> None:
    model_dir = tiny.build(kind, models)
    handler = harness.start_worker(_handler_class(kind), model_dir).handler
    assert handler.initialized is True
    assert handler.max_batch == tiny.BATCH_SIZE
    assert handler.signature == json.loads((model_dir / "signature.json").read_text())
    assert handler.device == torch.device("cpu")
    assert warm_ups == [1, tiny.BATCH_SIZE]


@pytest.mark.parametrize(("batch_size", "max_batch"), [(None, 1), (1, 1), (0, 1), (8, 8)])
def test_max_batch_follows_the_worker_batch_size(models: Path, warm_ups: list[int], batch_size: int | None,
                                                 max_batch: int) -> None:
    handler = harness.start_worker(RegressionHandler, tiny.build("regression", models), batch_size).handler
    assert handler.max_batch == max_batch
    assert warm_ups == sorted({1, max_batch})


@pytest.mark.parametrize(("section", "expected"), [({"torch_threads": 1}, 1), ({}, None), (None, None)])
def test_torch_threads_follow_the_model_config(models: Path, monkeypatch: pytest.MonkeyPatch, section: Any,
                                               expected: int | None) -> None:
    """The archive's `handler.torch_threads` sets the worker's intra-op threads; without it torch keeps its own."""
    calls: list[int] = []
    monkeypatch.setattr(torch, "set_num_threads", calls.append)  # process-wide: never change the test runner's
    context = harness.make_context(tiny.build("regression", models))
    context.model_yaml_config = {} if section is None else {"handler": section}
    RegressionHandler().initialize(context)
    assert calls == ([] if expected is None else [expected])


def test_example_inputs_follow_the_signature(models: Path) -> None:
    handler = harness.start_worker(TextGenerationHandler, tiny.build("text-generation", models)).handler
    tokens, state = handler.example_inputs(tiny.BATCH_SIZE)
    assert (tokens.shape, tokens.dtype) == ((4, 1), torch.int64)
    assert (state.shape, state.dtype) == ((4, 1, tiny.HIDDEN), torch.float32)
    assert not tokens.any()
    assert not state.any()


def test_initialize_without_a_signature_fails(tmp_path: Path) -> None:
    model_dir = tiny.build("regression", tmp_path)
    (model_dir / "signature.json").unlink()
    with pytest.raises(FileNotFoundError, match="signature.json"):
        harness.start_worker(RegressionHandler, model_dir)


def test_an_empty_batch_gets_an_empty_list(worker: harness.Worker) -> None:
    assert worker.handler.handle([], worker.context) == []


class Broken:
    """A model that fails the way a bug or an exhausted device does."""

    def __call__(self, *inputs: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("CUDA out of memory (simulated)")


def test_a_failing_prediction_fails_the_valid_requests_with_500(worker: harness.Worker,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    batch = [{"body": {"features": [1, 2, 3]}}, {"body": {"features": [1]}}, {"body": {"features": [4, 5, 6]}},
             {"body": []}]
    expected = worker.handle(batch)
    monkeypatch.setattr(worker.handler, "model", Broken())
    replies = worker.handle(batch)
    assert len(replies) == 4
    for i in (0, 2):
        assert replies[i].phrase == "Internal Server Error"
        assert replies[i].error(500) == "prediction failed; see the model server log"
    assert replies[1].error(400) == "'features' row 0 has 1 values; the model expects 3"
    assert replies[3].error(400) == "the JSON body must be an object, not a list"
    monkeypatch.undo()
    assert worker.handle(batch) == expected
    assert [r.status for r in expected] == [200, 400, 200, 400]


def test_a_bug_in_parse_fails_only_its_request(worker: harness.Worker, monkeypatch: pytest.MonkeyPatch) -> None:
    """A request that trips a bug in `parse` (anything but InvalidInput) must fail alone, as a bug in `predict`
    fails only the batch's valid requests: not every request of the batch with TorchServe's 503."""
    parse = worker.handler.parse

    def buggy(request: Any) -> Any:
        if request.fields.get("features") == [13, 13, 13]:
            raise KeyError("unlucky")
        return parse(request)

    monkeypatch.setattr(worker.handler, "parse", buggy)
    replies = worker.handle([{"body": {"features": [13, 13, 13]}}, {"body": {"features": [1, 2, 3]}}])
    assert [r.status for r in replies] == [500, 200]
    assert set(replies[0].json()) == {"error"}
