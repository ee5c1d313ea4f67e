"""Every curriculum model served by a real TorchServe 0.12 from the archives `make archive` builds:
real requests, real answers, and bad input that fails alone without restarting a worker."""

from __future__ import annotations

import base64
import io
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
from PIL import Image

from serving.modelserver import ModelServerSettings
from serving.modelserver.workers import worker_pids
from training import export, registry
from training.data import images, tabular


def _module(artifacts_dir: Path, name: str) -> torch.jit.ScriptModule:
    with export.torchscript_deprecation_silenced():
        return torch.jit.load(str(artifacts_dir / name / "model.pt"))


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray((pixels * 255).round().astype(np.uint8), mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def test_cnn_digits_reads_held_out_digits_sent_as_png(client: httpx.Client) -> None:
    digits = images.digits()
    pngs = [_png(x[0].numpy()) for x in digits.x_test]

    def classify(png: bytes) -> str:
        response = client.post("/predictions/cnn_digits", content=png, headers={"Content-Type": "image/png"})
        assert response.status_code == 200, response.text
        return str(response.json()["label"])

    with ThreadPoolExecutor(8) as pool:  # concurrent, so TorchServe batches them
        labels = list(pool.map(classify, pngs))
    accuracy = np.mean([label == str(int(y)) for label, y in zip(labels, digits.y_test, strict=True)])
    assert accuracy >= 0.95


def test_dcgan_draws_pngs_that_cnn_digits_reads_as_requested(client: httpx.Client) -> None:
    response = client.post("/predictions/dcgan_digits", json={"digit": list(range(10)), "count": 6, "seed": 11})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["digits"] == [d for d in range(10) for _ in range(6)]
    for encoded in body["images"]:
        with Image.open(io.BytesIO(base64.b64decode(encoded))) as image:
            assert (image.format, image.size, image.mode) == ("PNG", (8, 8), "L")
    judged = client.post("/predictions/cnn_digits", json={"image": body["images"]})
    assert judged.status_code == 200, judged.text
    agreement = np.mean([label == str(d) for label, d in zip(judged.json()["label"], body["digits"], strict=True)])
    assert agreement >= 0.8


def test_dcgan_returns_a_png_when_asked(client: httpx.Client) -> None:
    response = client.post("/predictions/dcgan_digits", json={"digit": 4, "seed": 2},
                           headers={"Accept": "image/png"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.content[:8] == b"\x89PNG\r\n\x1a\n"


def test_char_rnn_is_deterministic_under_a_seed(client: httpx.Client) -> None:
    request = {"prompt": "The with statement", "max_new_tokens": 60, "temperature": 0.9, "seed": 1234}
    first, second = (client.post("/predictions/char_rnn", json=request).json() for _ in range(2))
    other = client.post("/predictions/char_rnn", json={**request, "seed": 4321}).json()
    assert first == second
    assert len(first["text"]) == 60
    assert first["seed"] == 1234
    assert other["text"] != first["text"]


def test_dqn_serves_the_exported_modules_action(client: httpx.Client, artifacts_dir: Path) -> None:
    observations = np.random.default_rng(0).normal(0, 0.3, (20, 4)).round(4).tolist()
    body = client.post("/predictions/dqn_cartpole", json={"observation": observations}).json()
    q = _module(artifacts_dir, "dqn_cartpole")(torch.tensor(observations, dtype=torch.float32))
    assert body["action"] == q.argmax(dim=1).tolist()
    assert np.allclose(body["q_values"], q.detach().numpy(), atol=1e-5)


@pytest.mark.parametrize("name", ["linear_regression", "logistic_regression", "mlp_classifier"])
def test_tabular_outputs_equal_the_exported_modules(client: httpx.Client, artifacts_dir: Path, name: str) -> None:
    data = tabular.load(registry.get(name).dataset)
    rows = data.x_test[:16].tolist()
    body = client.post(f"/predictions/{name}", json={"features": rows}).json()
    expected = _module(artifacts_dir, name)(torch.tensor(rows, dtype=torch.float32)).detach().numpy()
    if name == "linear_regression":
        assert np.allclose(body["prediction"], expected, rtol=1e-5)
    else:
        assert np.allclose(body["probabilities"], expected, atol=1e-6)
        assert body["label"] == [data.target_names[i] for i in expected.argmax(axis=1)]


def _huge_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("1", (6000, 6000)).save(buffer, format="PNG")  # 36 Mpixel, a few KiB on disk
    return buffer.getvalue()


BAD_REQUESTS = [
    ("mlp_classifier", b'{"features": [1, 2', "application/json", "malformed JSON"),
    ("mlp_classifier", b'{"features": [1, 2, 3]}', "application/json", "the model expects 13"),
    ("linear_regression", b'{"features": [NaN, 0, 0, 0, 0, 0, 0, 0, 0, 0]}', "application/json", "finite"),
    ("linear_regression", b'{"features": [1e999, 0, 0, 0, 0, 0, 0, 0, 0, 0]}', "application/json", "finite"),
    ("logistic_regression", b'{"features": "thirty numbers"}', "application/json", "list of 30 numbers"),
    ("dqn_cartpole", b'{"observation": [true, 0, 0, 0]}', "application/json", "must be a number"),
    ("cnn_digits", b"", "image/png", "empty"),
    ("cnn_digits", b"\x89PNG\r\n\x1a\n-not-really-a-png", "image/png", "not a decodable PNG or JPEG"),
    ("cnn_digits", None, "image/png", "larger than"),
    ("char_rnn", json.dumps({"prompt": "naïve ☃ \u202e"}).encode(), "application/json", "never saw"),
    ("char_rnn", b'{"prompt": "def", "max_new_tokens": 100000}', "application/json", "between 1 and 256"),
    ("dcgan_digits", b'{"digit": 12}', "application/json", "between 0 and 9"),
]


@pytest.mark.parametrize(("name", "body", "content_type", "message"), BAD_REQUESTS)
def test_bad_input_gets_a_4xx_and_the_worker_keeps_serving(
    client: httpx.Client, server: ModelServerSettings, name: str, body: bytes | None, content_type: str,
    message: str,
) -> None:
    pids = worker_pids(server, name)
    response = client.post(f"/predictions/{name}", content=_huge_png() if body is None else body,
                           headers={"Content-Type": content_type})
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert message in response.json()["error"]
    good = {"mlp_classifier": {"features": tabular.load("wine").x_test[0].tolist()},
            "linear_regression": {"features": [0.0] * 10},
            "logistic_regression": {"features": tabular.load("breast_cancer").x_test[0].tolist()},
            "dqn_cartpole": {"observation": [0, 0, 0, 0]},
            "cnn_digits": {"image": base64.b64encode(_png(np.eye(8))).decode()},
            "char_rnn": {"prompt": "def", "max_new_tokens": 5, "seed": 1},
            "dcgan_digits": {"digit": 1, "seed": 1}}[name]
    assert client.post(f"/predictions/{name}", json=good).status_code == 200
    assert worker_pids(server, name) == pids  # the same worker: nothing restarted
