"""The gateway as a real process in front of a real TorchServe: v1, v2 (with tritonclient), auth, limits."""

from __future__ import annotations

import asyncio
import base64
import io
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
from PIL import Image

from serving.modelserver import ModelServerSettings, read_keys
from tests.error_bodies import error_of
from tests.integration.conftest import KEY, OTHER_KEY, auth
from training import registry
from training.data import images, tabular


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray((pixels * 255).round().astype(np.uint8), mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def test_v1_lists_every_model_ready(api: httpx.Client) -> None:
    models = api.get("/v1/models").json()
    assert [m["name"] for m in models] == sorted(registry.names())
    assert all(m["ready"] for m in models)
    assert {m["name"]: m["kind"] for m in models} == {n: str(registry.get(n).kind) for n in registry.names()}


@pytest.mark.parametrize("name", registry.names())
def test_v1_describes_each_model_and_its_example_works(api: httpx.Client, name: str) -> None:
    page = api.get(f"/v1/models/{name}").json()
    assert page["signature"]["inputs"][0]["name"] == registry.get(name).inputs[0].name
    assert page["metrics"]["passed"] is True
    assert page["model_card"].startswith(f"# Model card: {name}")
    answer = api.post(f"/v1/models/{name}/predict", json=page["example_request"])
    assert answer.status_code == 200, answer.text
    inferred = api.post(f"/v2/models/{name}/infer", json=page["example_infer_request"])
    assert inferred.status_code == 200, inferred.text
    assert inferred.json()["model_name"] == name


def test_v1_matches_torchserve_directly(api: httpx.Client, client: httpx.Client) -> None:
    row = {"features": tabular.load("wine").x_test[:3].tolist()}
    assert api.post("/v1/models/mlp_classifier/predict", json=row).json() == \
        client.post("/predictions/mlp_classifier", json=row).json()


def test_v1_takes_a_raw_image_and_returns_a_png(api: httpx.Client) -> None:
    digits = images.digits()
    answer = api.post("/v1/models/cnn_digits/predict", content=_png(digits.x_test[0][0].numpy()),
                      headers={"Content-Type": "image/png"})
    assert answer.json()["label"] == str(int(digits.y_test[0]))
    drawn = api.post("/v1/models/dcgan_digits/predict", json={"digit": 3, "seed": 5}, headers={"Accept": "image/png"})
    assert drawn.headers["content-type"] == "image/png"
    assert drawn.content[:4] == b"\x89PNG"


def test_v1_bad_input_is_a_4xx_with_the_handlers_message(api: httpx.Client) -> None:
    answer = api.post("/v1/models/mlp_classifier/predict", json={"features": [1, 2]})
    assert error_of(answer) == (400, "'features' row 0 has 2 values; the model expects 13")
    wrong_type = api.post("/v1/models/mlp_classifier/predict", content=b"x", headers={"Content-Type": "text/xml"})
    assert wrong_type.status_code == 415
    assert "application/json" in wrong_type.json()["error"]


@pytest.mark.parametrize("path", ["/v1/models/nope/predict", "/v1/models/..%2F..%2Fetc%2Fpasswd/predict",
                                  "/v2/models/cnn_digits/versions/9.9/infer", f"/v1/models/{'x' * 5000}/predict"])
def test_unknown_models_and_versions_are_404(api: httpx.Client, path: str) -> None:
    answer = api.post(path, json={"features": [1]})
    assert answer.status_code == 404
    message = answer.json()["error"].lower()
    assert "not found" in message or "no version" in message


def test_auth(gateway: str) -> None:
    url = f"{gateway}/v1/models/linear_regression/predict"
    body = {"features": [0.0] * 10}
    assert httpx.post(url, json=body).status_code == 401
    assert httpx.post(url, json=body, headers={"Authorization": "Bearer wrong-key-00000000000"}).status_code == 401
    assert httpx.post(url, json=body, headers={"Authorization": f"Bearer {OTHER_KEY}"}).status_code == 200
    assert httpx.get(f"{gateway}/v1/models").status_code == 401
    assert httpx.get(f"{gateway}/livez").status_code == 200  # health and metrics are open by default
    assert httpx.get(f"{gateway}/readyz").status_code == 200
    assert httpx.get(f"{gateway}/metrics").status_code == 200


def test_oversize_body_is_413(api: httpx.Client) -> None:
    answer = api.post("/v1/models/cnn_digits/predict", content=b"\0" * (9 * 1024 * 1024),
                      headers={"Content-Type": "image/png"})
    assert answer.status_code == 413
    assert "over the limit" in answer.json()["error"]


def test_request_ids_are_returned_and_made(api: httpx.Client) -> None:
    mine = api.get("/v1/models/linear_regression", headers={"X-Request-ID": "trace-42"})
    assert mine.headers["x-request-id"] == "trace-42"
    assert len(api.get("/v1/models/linear_regression").headers["x-request-id"]) >= 16


def test_metrics_count_requests_by_model_route_and_status(api: httpx.Client, gateway: str) -> None:
    api.post("/v1/models/linear_regression/predict", json={"features": [0.0] * 10})
    text = httpx.get(f"{gateway}/metrics").text
    sample = ('gateway_requests_total{method="POST",model="linear_regression",'
              'route="/v1/models/{name}/predict",status="200"}')
    assert sample in text
    assert "gateway_upstream_duration_seconds_bucket" in text


# --- v2 through tritonclient -------------------------------------------------------------------------------

def _triton(gateway: str) -> triton.InferenceServerClient:
    return triton.InferenceServerClient(url=gateway.removeprefix("http://"))


def _inputs(name: str, binary: bool) -> tuple[list[triton.InferInput], Any]:
    """Real held-out inputs for each model, in the v2 contract."""
    kind = str(registry.get(name).kind)
    if kind in ("regression", "tabular-classification"):
        rows = tabular.load(registry.get(name).dataset).x_test[:4].astype(np.float32)
        tensor = triton.InferInput("features", list(rows.shape), "FP32")
        tensor.set_data_from_numpy(rows, binary_data=binary)
        return [tensor], rows
    if kind == "image-classification":
        digits = images.digits()
        pngs = np.array([_png(x[0].numpy()) for x in digits.x_test[:4]], dtype=np.object_)
        if not binary:  # JSON carries binary content as base64 strings
            pngs = np.array([base64.b64encode(p) for p in pngs], dtype=np.object_)
        tensor = triton.InferInput("image", [4], "BYTES")
        tensor.set_data_from_numpy(pngs, binary_data=binary)
        return [tensor], digits.y_test[:4].numpy()
    if kind == "text-generation":
        prompts = np.array([b"The with statement", b"def "], dtype=np.object_)
        tensor = triton.InferInput("prompt", [2], "BYTES")
        tensor.set_data_from_numpy(prompts, binary_data=binary)
        return [tensor], prompts
    if kind == "image-generation":
        digits_ = np.array([1, 7], dtype=np.int64)
        tensor = triton.InferInput("digit", [2], "INT64")
        tensor.set_data_from_numpy(digits_, binary_data=binary)
        return [tensor], digits_
    observations = np.array([[0.01, 0.2, -0.03, -0.3], [0.0, -0.5, 0.05, 0.6]], dtype=np.float32)
    tensor = triton.InferInput("observation", [2, 4], "FP32")
    tensor.set_data_from_numpy(observations, binary_data=binary)
    return [tensor], observations


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
@pytest.mark.parametrize("name", registry.names())
def test_tritonclient_infers_every_model(gateway: str, client: httpx.Client, name: str, binary: bool) -> None:
    triton_client = _triton(gateway)
    metadata = triton_client.get_model_metadata(name, headers=auth())
    outputs = [triton.InferRequestedOutput(o["name"], binary_data=binary) for o in metadata["outputs"]]
    inputs, truth = _inputs(name, binary)
    result = triton_client.infer(name, inputs, outputs=outputs, headers=auth(),
                                 parameters={"seed": 3, "max_new_tokens": 12} if name == "char_rnn" else None)
    kind = str(registry.get(name).kind)
    if kind == "regression":
        direct = client.post(f"/predictions/{name}", json={"features": truth.tolist()}).json()["prediction"]
        assert np.allclose(result.as_numpy("prediction"), direct, rtol=1e-5)
    elif kind.endswith("classification"):
        probabilities = result.as_numpy("probabilities")
        assert probabilities.shape == (len(truth), metadata["outputs"][1]["shape"][1])
        assert np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)
        labels = [x.decode() if isinstance(x, bytes) else x for x in result.as_numpy("label")]
        if kind == "image-classification":
            assert labels == [str(int(y)) for y in truth]
    elif kind == "text-generation":
        texts = result.as_numpy("text")
        assert len(texts) == 2
        assert all(len(t) == 12 for t in texts)
    elif kind == "image-generation":
        for png in result.as_numpy("image"):
            data = png if binary else base64.b64decode(png)
            with Image.open(io.BytesIO(data)) as image:
                assert image.size == (8, 8)
    else:
        direct = client.post(f"/predictions/{name}", json={"observation": truth.tolist()}).json()
        assert result.as_numpy("action").tolist() == direct["action"]


def test_v2_metadata_matches_the_signature(gateway: str) -> None:
    triton_client = _triton(gateway)
    assert triton_client.is_server_live(headers=auth())
    assert triton_client.is_server_ready(headers=auth())
    meta = triton_client.get_model_metadata("mlp_classifier", headers=auth())
    assert meta["inputs"] == [{"name": "features", "datatype": "FP32", "shape": [-1, 13]}]
    assert meta["outputs"] == [{"name": "label", "datatype": "BYTES", "shape": [-1]},
                               {"name": "probabilities", "datatype": "FP32", "shape": [-1, 3]}]
    assert triton_client.is_model_ready("mlp_classifier", headers=auth())


def test_v2_errors_are_json_with_a_message(api: httpx.Client) -> None:
    wrong = api.post("/v2/models/mlp_classifier/infer",
                     json={"inputs": [{"name": "features", "datatype": "FP32", "shape": [1, 2], "data": [1, 2]}]})
    assert wrong.status_code == 400
    assert "shape" in wrong.json()["error"]
    assert api.post("/v2/models/mlp_classifier/infer", content=b"{").status_code == 400


# --- v2 through the kserve SDK's REST client -------------------------------------------------------------

def _kserve_input(name: str) -> tuple[Any, dict[str, Any] | None]:
    """The same held-out inputs as the tritonclient test, as a kserve InferInput (JSON; images base64)."""
    from kserve import InferInput

    kind = str(registry.get(name).kind)
    if kind in ("regression", "tabular-classification", "policy"):
        rows = (tabular.load(registry.get(name).dataset).x_test[:3] if kind != "policy"
                else np.array([[0.01, 0.2, -0.03, -0.3]])).astype(np.float32)
        tensor = InferInput("observation" if kind == "policy" else "features", list(rows.shape), "FP32")
        tensor.set_data_from_numpy(rows, binary_data=False)
        return tensor, None
    if kind == "image-classification":
        pngs = [base64.b64encode(_png(x[0].numpy())).decode() for x in images.digits().x_test[:3]]
        return InferInput("image", [3], "BYTES", data=pngs), None
    if kind == "text-generation":
        return InferInput("prompt", [1], "BYTES", data=["The with statement"]), {"seed": 5, "max_new_tokens": 10}
    return InferInput("digit", [2], "INT64", data=[2, 8]), {"seed": 5}


@pytest.mark.parametrize("name", registry.names())
def test_kserve_rest_client_infers_every_model(gateway: str, name: str) -> None:
    from kserve import InferenceRESTClient, InferRequest, RESTConfig

    tensor, parameters = _kserve_input(name)

    async def scenario() -> tuple[Any, bool]:
        client = InferenceRESTClient(RESTConfig(protocol="v2", retries=0, timeout=30))
        try:
            ready = await client.is_model_ready(gateway, name, headers=auth())
            result = await client.infer(gateway, InferRequest(name, [tensor], parameters=parameters),
                                        model_name=name, headers=auth())
            return result, ready
        finally:
            await client.close()

    result, ready = asyncio.run(scenario())
    assert ready
    outputs = {o.name: o.as_numpy() for o in result.outputs}
    kind = str(registry.get(name).kind)
    if kind == "regression":
        assert outputs["prediction"].shape == (3,)
    elif kind == "tabular-classification":
        labels = tabular.load(registry.get(name).dataset).target_names
        assert outputs["label"].tolist() == [labels[i] for i in outputs["probabilities"].argmax(axis=1)]
    elif kind == "image-classification":
        assert outputs["label"].tolist() == [str(int(y)) for y in images.digits().y_test[:3]]
    elif kind == "text-generation":
        assert len(outputs["text"][0]) == 10
    elif kind == "image-generation":
        for encoded in outputs["image"]:
            with Image.open(io.BytesIO(base64.b64decode(encoded))) as image:
                assert image.size == (8, 8)
    else:
        assert outputs["action"].tolist() == [int(outputs["q_values"].argmax())]


def test_keys_and_tokens_never_reach_the_logs(api: httpx.Client, gateway: str, gateway_log: Path,
                                              server: ModelServerSettings) -> None:
    wrong = "Bearer not-a-key-but-secret-looking-1234"
    httpx.post(f"{gateway}/v1/models/linear_regression/predict?token=query-secret-5678",
               json={"features": [0.0] * 10}, headers={"Authorization": wrong})
    api.post("/v1/models/linear_regression/predict", json={"features": [0.0] * 10})
    api.post("/v1/models/linear_regression/predict", json={"features": [1]})  # a 400 is logged too
    keys = read_keys(server.ts_home)
    torchserve_logs = "".join(p.read_text(errors="replace") for p in (server.ts_home / "logs").glob("*"))
    logs = gateway_log.read_text() + torchserve_logs
    assert "POST" in gateway_log.read_text()  # the access log is there to be scanned
    for secret in (KEY, OTHER_KEY, wrong.split()[1], "query-secret-5678", keys.inference, keys.management):
        assert secret not in logs
