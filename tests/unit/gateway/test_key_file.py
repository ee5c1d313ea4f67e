"""TorchServe's key file (the token the gateway calls TorchServe with) missing or unreadable: every prediction,
v1, v2 REST and gRPC, and /readyz answer 503 with the reason, the gateway keeps running, and it recovers by
itself as soon as TorchServe writes the file."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import grpc
import pytest

from tests.unit.gateway.gateway_apps import error_of, features_message, gateway, grpc_infer, running
from tests.unit.gateway.scripted_servers import serve

pytestmark = pytest.mark.anyio
KEYS = {"inference": {"key": "inference-key"}, "management": {"key": "management-key"}}
PREDICTION = b'{"prediction": [0.5]}'
WORKERS = b'[{"workers": [{"status": "READY"}]}]'
NO_KEY_FILE = "the model server is not ready: its key file cannot be read (is TorchServe running?); retry shortly"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def torchserve_reply(head: bytes, number: int) -> bytes:
    """TorchServe's inference API (a prediction) or its management API (a model's ready workers)."""
    body = WORKERS if head.startswith(b"GET /models/") else PREDICTION
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


V1 = ("/v1/models/reg/predict", {"features": [[1.0, 2.0]]})
V2 = ("/v2/models/reg/infer", {"inputs": [{"name": "features", "datatype": "FP32", "shape": [1, 2],
                                           "data": [1.0, 2.0]}]})


@pytest.mark.parametrize("key_file", ["missing", "a directory", "not UTF-8", "not JSON", "without keys"])
async def test_without_a_readable_key_file_predictions_and_readiness_are_503_then_recover(
        tmp_path: Path, key_file: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="serving.gateway")
    home = tmp_path / "home"
    home.mkdir()
    path = home / "key_file.json"
    if key_file == "a directory":
        path.mkdir()
    elif key_file != "missing":
        path.write_bytes({"not UTF-8": b"\xff\xfe{", "not JSON": b"{", "without keys": b"{}"}[key_file])
    async with serve(torchserve_reply) as torchserve, serve(torchserve_reply) as management:
        app = gateway(tmp_path, ts_inference_port=torchserve.origin.port,
                      ts_management_port=management.origin.port)
        async with running(app) as client:
            for path_and_body in (V1, V2, V1):  # the gateway answers every time: it does not die or stick
                answer = await client.post(path_and_body[0], json=path_and_body[1])
                assert error_of(answer) == (503, NO_KEY_FILE)
                assert answer.headers["retry-after"] == "1"
            assert error_of(await client.get("/readyz")) == (503, NO_KEY_FILE)
            assert await grpc_infer(app.state.plane, features_message("reg", [[1.0, 2.0]])) == (
                grpc.StatusCode.UNAVAILABLE, NO_KEY_FILE)
            assert torchserve.requests == management.requests == []  # nothing was sent without the token

            if path.is_dir():
                path.rmdir()
            path.write_text(json.dumps(KEYS))  # TorchServe (re)started and wrote its keys
            v1 = await client.post(V1[0], json=V1[1])
            assert (v1.status_code, v1.content) == (200, PREDICTION)
            v2 = await client.post(V2[0], json=V2[1])
            assert (v2.status_code, v2.json()["outputs"][0]["data"]) == (200, [0.5])
            ready = await client.get("/readyz")
            assert (ready.status_code, ready.json()) == (200, {"status": "ready", "models": {
                "poet": True, "reg": True, "wine": True}})
    assert len(torchserve.requests) == 2
    assert all(b"\r\nAuthorization: Bearer inference-key\r\n" in request for request in torchserve.requests)
    assert all(b"\r\nAuthorization: Bearer management-key\r\n" in request for request in management.requests)
    problems = [r for r in caplog.records if "key file" in r.getMessage()]
    # One warning when the file could not be read (not one per request), one line when it is back.
    assert [r.levelno for r in problems] == [logging.WARNING, logging.INFO]
    assert not [r for r in caplog.records if r.exc_info]

