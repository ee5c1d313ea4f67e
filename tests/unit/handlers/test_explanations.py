"""Explanations in the handlers (handlers/explaining.py): Integrated Gradients through TorchServe's own request
path (the `explain: True` header its `/explanations` API sets), checked by completeness.

Completeness: the attributions of an input sum to f(x)[target] − f(baseline)[target]. What is left over is the
integral's error; for these smooth tiny models at the default 64 Gauss-Legendre steps it must be within
TOLERANCE, and the answer's own `convergence_delta` must say exactly what is left over."""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from handlers import explaining
from handlers.classification import ClassificationHandler
from handlers.image_classification import ImageClassificationHandler
from handlers.policy import PolicyHandler
from handlers.regression import RegressionHandler
from handlers.text_generation import TextGenerationHandler
from serving.examples import png
from tests.unit.handlers import harness, tiny
from tests.unit.handlers.approx import approx_json

TOLERANCE = 1e-4  # |sum(attributions) − (f(x) − f(baseline))| at the default steps, for the tiny models
EXPLAIN = {"explain": "True"}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


def _worker(models: Path, kind: str, handler: type[Any]) -> tuple[harness.Worker, Any]:
    model_dir = tiny.build(kind, models)
    return harness.start_worker(handler, model_dir), tiny.load_module(model_dir)


@pytest.fixture(scope="module")
def classifier(models: Path) -> tuple[harness.Worker, Any]:
    return _worker(models, "tabular-classification", ClassificationHandler)


@pytest.fixture(scope="module")
def regressor(models: Path) -> tuple[harness.Worker, Any]:
    return _worker(models, "regression", RegressionHandler)


@pytest.fixture(scope="module")
def digits(models: Path) -> tuple[harness.Worker, Any]:
    return _worker(models, "image-classification", ImageClassificationHandler)


def _run(module: Any, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        out: torch.Tensor = module(x)
    return out


def _explain(worker: harness.Worker, body: dict[str, Any]) -> harness.Reply:
    (reply,) = worker.send(harness.json_request(body, EXPLAIN))
    return reply


def _complete(attributions: Any, at_input: float, at_baseline: float, delta: float) -> None:
    total = float(torch.tensor(attributions, dtype=torch.float64).sum())
    assert total == pytest.approx(at_input - at_baseline, abs=TOLERANCE)
    assert delta == pytest.approx(total - (at_input - at_baseline), abs=1e-5)


def test_a_tabular_explanation_is_complete_for_the_predicted_class(classifier: tuple[harness.Worker, Any]) -> None:
    worker, module = classifier
    row = [0.5, -1.5, 2.0]
    reply = _explain(worker, {"features": row})
    assert (reply.status, reply.content_type) == (200, "application/json")
    body = reply.json()
    probabilities = _run(module, torch.tensor([row]))[0]
    predicted = int(probabilities.argmax())
    at_baseline = float(_run(module, torch.zeros(1, 3))[0, predicted])
    assert body["label"] == body["target"] == ["neg", "pos"][predicted]
    assert body["score"] == pytest.approx(float(probabilities[predicted]), abs=1e-6)
    assert body["baseline_score"] == pytest.approx(at_baseline, abs=1e-6)
    _complete(body["attributions"], float(probabilities[predicted]), at_baseline, body["convergence_delta"])
    assert (body["feature_names"], body["baseline"]) == (["a", "b", "c"], [0.0, 0.0, 0.0])
    assert (body["method"], body["steps"]) == ("integrated_gradients", explaining.DEFAULT_STEPS)


@pytest.mark.parametrize("target", ["neg", 0])
def test_a_requested_class_is_explained_by_name_or_index(classifier: tuple[harness.Worker, Any], target: Any) -> None:
    worker, module = classifier
    row = [3.0, 3.0, 3.0]
    body = _explain(worker, {"features": row, "target": target, "steps": 128}).json()
    assert (body["target"], body["steps"]) == ("neg", 128)
    at_input, at_baseline = float(_run(module, torch.tensor([row]))[0, 0]), float(_run(module, torch.zeros(1, 3))[0, 0])
    _complete(body["attributions"], at_input, at_baseline, body["convergence_delta"])


def test_a_given_baseline_is_used(classifier: tuple[harness.Worker, Any]) -> None:
    worker, module = classifier
    row, baseline = [1.0, 2.0, 3.0], [1.0, 0.0, 0.0]
    body = _explain(worker, {"features": row, "baseline": baseline, "target": "pos"}).json()
    assert body["baseline"] == baseline
    assert body["attributions"][0] == pytest.approx(0.0, abs=1e-7)  # the feature equal to its baseline
    at_input = float(_run(module, torch.tensor([row]))[0, 1])
    at_baseline = float(_run(module, torch.tensor([baseline]))[0, 1])
    _complete(body["attributions"], at_input, at_baseline, body["convergence_delta"])


def test_several_rows_get_lists(classifier: tuple[harness.Worker, Any]) -> None:
    worker, module = classifier
    rows = [[3.0, 3.0, 3.0], [-3.0, -3.0, -3.0]]
    body = _explain(worker, {"features": rows}).json()
    probabilities = _run(module, torch.tensor(rows))
    assert body["label"] == body["target"] == [["neg", "pos"][i] for i in probabilities.argmax(dim=1).tolist()]
    for r in range(len(rows)):
        t = ["neg", "pos"].index(body["target"][r])
        _complete(body["attributions"][r], float(probabilities[r, t]), float(_run(module, torch.zeros(1, 3))[0, t]),
                  body["convergence_delta"][r])
    assert body["feature_names"] == ["a", "b", "c"]


def test_a_regression_explanation_is_exact_for_a_linear_model(regressor: tuple[harness.Worker, Any]) -> None:
    worker, module = regressor
    row = [1.0, -2.0, 0.5]
    body = _explain(worker, {"features": row}).json()
    weights = module.linear.weight[0].tolist()
    assert body["attributions"] == pytest.approx([w * x for w, x in zip(weights, row, strict=True)], abs=1e-6)
    assert body["prediction"] == body["score"] == pytest.approx(float(_run(module, torch.tensor([row]))[0]), abs=1e-6)
    assert body["baseline_score"] == pytest.approx(float(module.linear.bias.detach()[0]), abs=1e-6)
    assert "target" not in body
    assert "label" not in body


def test_an_image_explanation_is_per_pixel_and_complete(digits: tuple[harness.Worker, Any]) -> None:
    worker, module = digits
    pixels = torch.rand(8, 8, generator=torch.Generator().manual_seed(5))
    image = base64.b64encode(png(pixels.tolist())).decode()
    body = _explain(worker, {"image": image}).json()
    decoded = torch.round(pixels * 255) / 255  # what the PNG carries
    probabilities = _run(module, decoded.view(1, 1, 8, 8))[0]
    predicted = int(probabilities.argmax())
    assert body["label"] == body["target"] == tiny.DIGITS[predicted]
    assert [len(row) for row in body["attributions"]] == [8] * 8
    at_baseline = float(_run(module, torch.zeros(1, 1, 8, 8))[0, predicted])
    _complete(body["attributions"], float(probabilities[predicted]), at_baseline, body["convergence_delta"])
    dark = _explain(worker, {"pixels": torch.zeros(8, 8).tolist(), "target": "3"}).json()
    assert dark["attributions"] == [[0.0] * 8] * 8  # the input is its baseline: nothing to attribute


def test_explanations_and_predictions_share_a_batch(classifier: tuple[harness.Worker, Any]) -> None:
    worker, module = classifier
    replies = worker.send(harness.json_request({"features": [3, 3, 3]}),
                          harness.json_request({"features": [3, 3, 3]}, EXPLAIN),
                          harness.json_request({"features": [3, 3]}, EXPLAIN))
    assert set(replies[0].json()) == {"label", "probabilities"}
    assert "attributions" in replies[1].json()
    assert replies[2].error(400) == "'features' row 0 has 2 values; the model expects 3"


@pytest.mark.parametrize(("body", "message"), [
    ({"features": [1, 2, 3], "steps": 0}, "'steps' must be between 1 and 256, got 0"),
    ({"features": [1, 2, 3], "steps": 257}, "'steps' must be between 1 and 256, got 257"),
    ({"features": [1, 2, 3], "target": "maybe"}, "'target' must be one of the labels ['neg', 'pos'] or an index, "
                                                 "got 'maybe'"),
    ({"features": [1, 2, 3], "target": 2}, "'target' must be between 0 and 1, got 2"),
    ({"features": [[1, 2, 3]] * 17}, "an explanation takes at most 16 rows, got 17"),
    ({"features": [1, 2, 3], "baseline": [1, 2]}, "'baseline' row 0 has 2 values; the model expects 3"),
])
def test_bad_explanation_requests_are_refused(classifier: tuple[harness.Worker, Any], body: dict[str, Any],
                                              message: str) -> None:
    assert _explain(classifier[0], body).error(400) == message


def test_an_image_explanation_takes_one_image(digits: tuple[harness.Worker, Any]) -> None:
    image = base64.b64encode(png(torch.zeros(8, 8).tolist())).decode()
    assert _explain(digits[0], {"image": [image, image]}).error(400) == "an explanation takes one image, got 2"


def test_a_regression_has_no_target(regressor: tuple[harness.Worker, Any]) -> None:
    reply = _explain(regressor[0], {"features": [1, 2, 3], "target": 0})
    assert reply.error(400) == "'target' is for classifiers; a regression model has one output to explain"


@pytest.mark.parametrize(("kind", "handler", "body"), [
    ("text-generation", TextGenerationHandler, {"prompt": "ab"}),
    ("policy", PolicyHandler, {"observation": [0, 0, 0, 0]}),
])
def test_kinds_without_explanations_refuse_with_404(models: Path, kind: str, handler: type[Any],
                                                    body: dict[str, Any]) -> None:
    worker, _ = _worker(models, kind, handler)
    assert _explain(worker, body).error(404) == f"{kind} models have no explanations"


def test_without_captum_predictions_still_work_and_explanations_say_why(
        classifier: tuple[harness.Worker, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "captum.attr", None)  # `from captum.attr import …` now raises ImportError
    worker, _ = classifier
    assert set(worker.send(harness.json_request({"features": [1, 2, 3]}))[0].json()) == {"label", "probabilities"}
    assert _explain(worker, {"features": [1, 2, 3]}).error(501) == (
        "explanations need Captum in the model server (pip install captum)")


def test_an_archive_without_its_explanation_program_says_what_explains(tmp_path: Path) -> None:
    model_dir = tiny.build("tabular-classification", tmp_path, runtime="onnx", explanation=False)
    worker = harness.start_worker(ClassificationHandler, model_dir)
    name = worker.handler.signature["name"]
    assert set(worker.send(harness.json_request({"features": [1, 2, 3]}))[0].json()) == {"label", "probabilities"}
    assert _explain(worker, {"features": [1, 2, 3]}).error(409) == (
        f"model {name!r} is served on onnx, which computes no gradients, and its archive carries no explanation "
        "program; re-export it (python -m training train --missing) and archive it again, or archive TorchScript "
        "(python -m serving.archive --runtime torchscript)")


EXPLAINED_ON_ONNX = [
    ("tabular-classification", ClassificationHandler, [
        {"features": [0.5, -1.5, 2.0]}, {"features": [[3, 3, 3], [-3, -3, -3]], "target": "neg", "steps": 128},
        {"features": [1, 2, 3], "baseline": [1, 0, 0]}]),
    ("regression", RegressionHandler, [{"features": [1.0, -2.0, 0.5]}, {"features": [[1, 2, 3], [0, 0, 1]]}]),
    ("image-classification", ImageClassificationHandler, [
        {"pixels": torch.rand(8, 8, generator=torch.Generator().manual_seed(5)).tolist()},
        {"pixels": torch.rand(8, 8, generator=torch.Generator().manual_seed(6)).tolist(), "target": "3"}]),
]


@pytest.mark.parametrize(("kind", "handler", "bodies"), EXPLAINED_ON_ONNX, ids=[k for k, _, _ in EXPLAINED_ON_ONNX])
def test_on_onnx_runtime_the_explanation_program_explains_as_torchscript_does(
        models: Path, tmp_path: Path, kind: str, handler: type[Any], bodies: list[dict[str, Any]]) -> None:
    reference = harness.start_worker(handler, tiny.build(kind, models))
    worker = harness.start_worker(handler, tiny.build(kind, tmp_path, runtime="onnx"))
    assert worker.handler.runtime == "onnx"
    assert worker.handler.signature["explanation"] == {"file": "model.explain.pt2", "format": "torch.export"}
    assert worker.handler.explainer is None  # loaded by the first explanation, not at start
    for body in bodies:
        expected, got = _explain(reference, body), _explain(worker, body)
        assert (got.status, expected.status) == (200, 200), got.body
        assert got.json() == approx_json(expected.json(), 1e-5)
        inputs = {k: v for k, v in body.items() if k in ("features", "pixels")}
        (predicted,), (reference_prediction,) = (w.send(harness.json_request(inputs)) for w in (worker, reference))
        assert predicted.json() == approx_json(reference_prediction.json(), 1e-5)
    assert isinstance(worker.handler.explainer, torch.fx.GraphModule)  # the program explained, ONNX Runtime predicted
    assert type(worker.handler.model).__name__ == "OrtModule"


def test_a_named_explanation_program_the_archive_lacks_stops_the_worker(tmp_path: Path) -> None:
    model_dir = tiny.build("regression", tmp_path, runtime="onnx")
    (model_dir / "model.explain.pt2").unlink()
    with pytest.raises(FileNotFoundError, match="signature.json names the explanation program model.explain.pt2, "
                                                "which the archive lacks"):
        harness.start_worker(RegressionHandler, model_dir)


def test_a_program_that_fails_to_load_fails_the_explanation_not_the_worker(tmp_path: Path) -> None:
    model_dir = tiny.build("regression", tmp_path, runtime="onnx")
    (model_dir / "model.explain.pt2").write_bytes(b"not a program")
    worker = harness.start_worker(RegressionHandler, model_dir)
    assert _explain(worker, {"features": [1, 2, 3]}).error(500) == "explanation failed; see the model server log"
    assert "prediction" in worker.send(harness.json_request({"features": [1, 2, 3]}))[0].json()


def test_an_explanation_program_of_another_format_stops_the_worker(tmp_path: Path) -> None:
    model_dir = tiny.build("regression", tmp_path, runtime="onnx")
    signature = json.loads((model_dir / "signature.json").read_text(encoding="utf-8"))
    signature["explanation"]["format"] = "tensorflow.savedmodel"
    (model_dir / "signature.json").write_text(json.dumps(signature), encoding="utf-8")
    with pytest.raises(ValueError, match="explanation program of format 'tensorflow.savedmodel'; this handler "
                                         "loads 'torch.export'"):
        harness.start_worker(RegressionHandler, model_dir)
