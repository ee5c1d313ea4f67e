"""A model that answers 200 with a body its kind's contract does not take (not JSON, not an object, a missing
key, values that do not convert, the wrong number of items) is a 502 with the reason on v2 REST and v1 and v2
streams, and INTERNAL on gRPC: never the gateway's 500, and never a tensor of the wrong shape passed on.
(A v1 prediction's body is the handler's own JSON, passed on untouched: the gateway does not read it.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import grpc
import pytest

from tests.unit.gateway.gateway_apps import FakeTorchServe, error_of, features_message, gateway, grpc_infer, running

pytestmark = pytest.mark.anyio
ONE_ROW, TWO_ROWS = [[1.0, 2.0]], [[1.0, 2.0], [3.0, 4.0]]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def v2_body(rows: list[list[float]]) -> dict[str, Any]:
    return {"inputs": [{"name": "features", "datatype": "FP32", "shape": [len(rows), 2],
                        "data": [v for row in rows for v in row]}]}


BAD_ANSWERS = [
    ("reg", ONE_ROW, b"<html>oops</html>", "model 'reg' answered with something other than JSON"),
    ("reg", ONE_ROW, b"[0.5]", "model 'reg' answered a JSON list, not an object"),
    ("reg", ONE_ROW, b'"fine"', "model 'reg' answered a JSON str, not an object"),
    ("wine", ONE_ROW, b'{"label": ["a"]}', "model 'wine' answered without 'probabilities'"),
    ("reg", ONE_ROW, b'{"prediction": "high"}', "model 'reg' answered values its regression outputs cannot hold "
                                                "(ValueError: could not convert string to float: 'high')"),
    ("wine", ONE_ROW, b'{"label": 7, "probabilities": [[0.5, 0.5]]}',
     "model 'wine' answered values its tabular-classification outputs cannot hold (TypeError: 'int' object is "
     "not iterable)"),
    ("reg", ONE_ROW, b'{"prediction": 0.5}', "model 'reg' answered output 'prediction' of shape []; 1 item(s) "
                                             "make [1]"),
    ("reg", TWO_ROWS, b'{"prediction": [0.5]}', "model 'reg' answered output 'prediction' of shape [1]; 2 item(s) "
                                                "make [2]"),
    ("wine", ONE_ROW, b'{"label": ["a"], "probabilities": [[0.5, 0.3, 0.2]]}',
     "model 'wine' answered output 'probabilities' of shape [1, 3]; 1 item(s) make [1, 2]"),
    ("wine", TWO_ROWS, b'{"label": ["a"], "probabilities": [[0.5, 0.5], [0.5, 0.5]]}',
     "model 'wine' answered output 'label' of shape [1]; 2 item(s) make [2]"),
]


@pytest.mark.parametrize(("model", "rows", "answer", "message"), BAD_ANSWERS)
async def test_a_v2_answer_of_the_wrong_shape_is_a_bad_gateway(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               model: str, rows: list[list[float]], answer: bytes,
                                                               message: str) -> None:
    FakeTorchServe(lambda name, body: answer).install(monkeypatch)
    app = gateway(tmp_path)
    async with running(app) as client:
        assert error_of(await client.post(f"/v2/models/{model}/infer", json=v2_body(rows))) == (502, message)
        assert await grpc_infer(app.state.plane, features_message(model, rows)) == (grpc.StatusCode.INTERNAL,
                                                                                     message)


async def test_a_good_answer_still_passes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    FakeTorchServe(lambda name, body: b'{"prediction": [0.5, 1.5]}').install(monkeypatch)
    app = gateway(tmp_path)
    async with running(app) as client:
        answer = await client.post("/v2/models/reg/infer", json=v2_body(TWO_ROWS))
        assert (answer.status_code, answer.json()["outputs"][0]["data"]) == (200, [0.5, 1.5])
        assert await grpc_infer(app.state.plane, features_message("reg", TWO_ROWS)) == (grpc.StatusCode.OK, "")


@pytest.mark.parametrize(("answer", "message"), [
    (b"not json", "model 'poet' answered with something other than JSON"),
    (b'{"text": "x", "seed": 1}', "model 'poet' answered without 'resume'"),
])
async def test_a_v1_stream_whose_step_answer_is_wrong_is_a_bad_gateway(tmp_path: Path, answer: bytes, message: str,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    FakeTorchServe(lambda name, body: answer).install(monkeypatch)
    async with running(gateway(tmp_path)) as client:
        refused = await client.post("/v1/models/poet/predict", json={"prompt": "the", "stream": True,
                                                                     "max_new_tokens": 8})
    assert error_of(refused) == (502, message)


async def test_a_v2_generate_answer_without_text_is_a_bad_gateway(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeTorchServe(lambda name, body: b'{"txt": "the end"}')
    fake.install(monkeypatch)
    async with running(gateway(tmp_path)) as client:
        refused = await client.post("/v2/models/poet/generate", json={"text_input": "the"})
    assert error_of(refused) == (502, "model 'poet' answered without 'text'")
    assert [json.loads(body)["prompt"] for body in fake.bodies] == ["the"]
