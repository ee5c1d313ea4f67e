"""POST /v1/models/{name}/explain through the gateway and TorchServe's own explanations API, on the real models:
complete attributions that agree with the served predictions, exact refusals, and the OpenAPI entry."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.error_bodies import error_of

EXPLAINED = ["cnn_digits", "transfer_cnn", "logistic_regression", "mlp_classifier", "linear_regression"]
# The trained models are not as smooth as the unit tests' tiny ones: at 256 steps what the integral leaves over
# is within 1% of the output's range (probabilities) or of the explained difference (regression).
TOLERANCE = 0.01


def _example(api: httpx.Client, name: str) -> dict[str, Any]:
    example: dict[str, Any] = api.get(f"/v1/models/{name}").json()["example_request"]
    return example


@pytest.mark.parametrize("name", EXPLAINED)
def test_explanations_are_complete_and_match_the_prediction(api: httpx.Client, name: str) -> None:
    example = _example(api, name)
    answer = api.post(f"/v1/models/{name}/explain", json={**example, "steps": 256})
    assert (answer.status_code, answer.headers["content-type"]) == (200, "application/json")
    body = answer.json()
    prediction = api.post(f"/v1/models/{name}/predict", json=example).json()
    attributions = body["attributions"]
    total = sum(sum(row) for row in attributions) if isinstance(attributions[0], list) else sum(attributions)
    difference = body["score"] - body["baseline_score"]
    assert body["convergence_delta"] == pytest.approx(total - difference, abs=1e-4)
    assert abs(total - difference) <= TOLERANCE * max(1.0, abs(difference))
    if "label" in prediction:
        assert body["label"] == body["target"] == prediction["label"]
        labels = api.get(f"/v1/models/{name}").json()["signature"]["labels"]
        assert body["score"] == pytest.approx(prediction["probabilities"][labels.index(body["label"])], abs=1e-5)
    else:
        assert body["prediction"] == pytest.approx(prediction["prediction"], rel=1e-6)
    if "image" in example:
        assert [len(row) for row in attributions] == [8] * 8
    else:
        assert len(attributions) == len(example["features"]) == len(body["feature_names"])


def test_a_requested_class_is_explained(api: httpx.Client) -> None:
    body = api.post("/v1/models/cnn_digits/explain", json={**_example(api, "cnn_digits"), "target": "3"}).json()
    assert body["target"] == "3"
    assert body["label"] != "3"
    assert body["steps"] == 64


@pytest.mark.parametrize(("name", "body", "status", "message"), [
    ("char_rnn", {"prompt": "a"}, 404, "model 'char_rnn' is a text-generation model; explanations are served for "
                                       "image-classification, regression, tabular-classification models"),
    ("dqn_cartpole", {"observation": [0, 0, 0, 0]}, 404, "model 'dqn_cartpole' is a policy model; explanations are "
     "served for image-classification, regression, tabular-classification models"),
    ("nope", {"features": [1]}, 404, "model 'nope' not found"),
    ("mlp_classifier", {"features": [1] * 13, "steps": 1000}, 400, "'steps' must be between 1 and 256, got 1000"),
    ("mlp_classifier", {"features": [[1] * 13] * 17}, 400, "an explanation takes at most 16 rows, got 17"),
    ("linear_regression", {"features": [1] * 10, "target": 1}, 400,
     "'target' is for classifiers; a regression model has one output to explain"),
])
def test_refusals_say_why(api: httpx.Client, name: str, body: dict[str, Any], status: int, message: str) -> None:
    answer = api.post(f"/v1/models/{name}/explain", json=body)
    assert error_of(answer) == (status, message)


def test_one_image_per_explanation_and_json_only(api: httpx.Client) -> None:
    image = _example(api, "cnn_digits")["image"]
    answer = api.post("/v1/models/cnn_digits/explain", json={"image": [image, image]})
    assert error_of(answer) == (400, "an explanation takes one image, got 2")
    answer = api.post("/v1/models/cnn_digits/explain", content=b"\x89PNG", headers={"Content-Type": "image/png"})
    assert error_of(answer) == (415, "explanations take application/json, not image/png")


def test_explanations_need_a_key(gateway: str) -> None:
    answer = httpx.post(f"{gateway}/v1/models/mlp_classifier/explain", json={"features": [1] * 13})
    missing = "missing API key: send 'Authorization: Bearer <key>'"
    assert error_of(answer) == (401, missing)


def test_the_route_is_documented_with_an_example_per_explainable_model(api: httpx.Client) -> None:
    operation = api.get("/openapi.json").json()["paths"]["/v1/models/{name}/explain"]["post"]
    examples = operation["requestBody"]["content"]["application/json"]["examples"]
    assert sorted(examples) == sorted(EXPLAINED)
    for name, example in examples.items():
        answer = api.post(f"/v1/models/{name}/explain", json=example["value"])
        assert answer.status_code == 200, (name, answer.text)
    assert "integrated_gradients" in str(operation["responses"]["200"])
