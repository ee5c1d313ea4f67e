"""Behind TorchServe's own `kservev2` envelope (what KServe's TorchServe runtime runs): a v2 request's input
tensors become the handler's JSON fields by name, and its answer comes back as the envelope's one output."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from ts.context import RequestProcessor
from ts.torch_handler.request_envelope.kservev2 import KServev2Envelope

from handlers.classification import ClassificationHandler
from handlers.image_classification import ImageClassificationHandler
from handlers.text_generation import TextGenerationHandler
from serving.gateway.core.kinds.image_classification import png
from tests.unit.handlers import harness, tiny


def _serve(handler_class: type[Any], model_dir: Path, inputs: list[dict[str, Any]]) -> tuple[int, dict[str, Any]]:
    worker = harness.start_worker(handler_class, model_dir)
    envelope = KServev2Envelope(worker.handler.handle)
    worker.context.request_ids = {0: "req-0"}
    worker.context.request_processor = [RequestProcessor({})]
    (answer,) = envelope.handle([{"body": json.dumps({"inputs": inputs}).encode()}], worker.context)
    return int(worker.context.get_response_status(0)[0]), answer


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("kserve")
    return {kind: tiny.build(kind, root) for kind in ("tabular-classification", "image-classification",
                                                       "text-generation")}


def test_a_feature_tensor_gets_the_handlers_answer(models: dict[str, Path]) -> None:
    rows = [[3.0, 3.0, 3.0], [-3.0, -3.0, -3.0]]
    status, answer = _serve(ClassificationHandler, models["tabular-classification"],
                            [{"name": "features", "shape": [2, 3], "datatype": "FP32", "data": sum(rows, [])}])
    alone = harness.start_worker(ClassificationHandler, models["tabular-classification"]).handle(
        [{"body": {"features": rows}}])[0].json()
    assert status == 200
    signature = json.loads((models["tabular-classification"] / "signature.json").read_text())
    assert answer["model_name"] == signature["name"]
    (output,) = answer["outputs"]
    assert (output["name"], output["datatype"], list(output["shape"])) == ("features", "BYTES", [1])
    assert output["data"] == [alone]


def test_a_base64_image_and_a_prompt_pass_as_bytes(models: dict[str, Path]) -> None:
    image = base64.b64encode(png([[0.5] * 8] * 8)).decode()
    status, answer = _serve(ImageClassificationHandler, models["image-classification"],
                            [{"name": "image", "shape": [1], "datatype": "BYTES", "data": [image]}])
    assert status == 200
    assert set(answer["outputs"][0]["data"][0]) == {"label", "probabilities"}
    status, answer = _serve(TextGenerationHandler, models["text-generation"],
                            [{"name": "prompt", "shape": [1], "datatype": "BYTES", "data": ["ab"]}])
    assert status == 200
    generated = answer["outputs"][0]["data"][0]["text"]
    assert isinstance(generated, str)
    assert len(generated) > 0


def test_a_bad_tensor_gets_a_400_with_the_handlers_message(models: dict[str, Path]) -> None:
    status, answer = _serve(ClassificationHandler, models["tabular-classification"],
                            [{"name": "features", "shape": [1, 2], "datatype": "FP32", "data": [1.0, 2.0]}])
    assert status == 400
    assert "the model expects 3" in answer["outputs"][0]["data"][0]["error"]
