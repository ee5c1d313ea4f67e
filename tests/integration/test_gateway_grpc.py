"""The gateway's gRPC front-end (OIP v2 and grpc.health.v1) as a real process in front of a real TorchServe:
tritonclient.grpc and the kserve SDK unchanged for every model, answering exactly as REST v2 does; metadata,
health, keys, and the status code of every kind of bad call, malformed bytes included."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import grpc
import httpx
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from serving.gateway.frontends.grpc_v2 import inference_pb2 as pb
from tests.integration.conftest import KEY, OTHER_KEY
from tests.integration.grpc_clients import GENERATION, held_out
from tests.servers import ROOT
from training import registry
from training.data import images

SERVICE = "/inference.GRPCInferenceService/"
AUTH = (("authorization", f"Bearer {KEY}"),)
CODE = grpc.StatusCode


@pytest.fixture(scope="module")
def channel(grpc_target: str) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(grpc_target) as open_channel:
        grpc.channel_ready_future(open_channel).result(timeout=30)
        yield open_channel


def call(channel: grpc.Channel, method: str, request: Any, response_type: Any, metadata: Any = AUTH,
         timeout: float = 60) -> Any:
    """One unary call of the v2 service with our own messages."""
    stub = channel.unary_unary(SERVICE + method, request_serializer=lambda m: m.SerializeToString(),
                               response_deserializer=response_type.FromString)
    return stub(request, metadata=metadata, timeout=timeout)


def raw_call(channel: grpc.Channel, method: str, payload: bytes, metadata: Any = AUTH) -> grpc.RpcError:
    """Send `payload` as the request's bytes, unchecked; the error the gateway answers with."""
    stub = channel.unary_unary(SERVICE + method, request_serializer=None, response_deserializer=None)
    with pytest.raises(grpc.RpcError) as caught:
        stub(payload, metadata=metadata, timeout=30)
    return caught.value  # type: ignore[return-value]


def refusal(channel: grpc.Channel, method: str, request: Any, metadata: Any = AUTH) -> tuple[Any, str]:
    """(status code, details) of a call that must fail."""
    error = raw_call(channel, method, request.SerializeToString(), metadata)
    return error.code(), error.details()


def run_client(which: str, grpc_target: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "tests.integration.grpc_clients", which, grpc_target, KEY,
                          *registry.names()], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    answer: dict[str, Any] = json.loads(out.stdout)
    return answer


def rest_v2(api: httpx.Client, model: str) -> dict[str, Any]:
    """What REST v2 (JSON) answers for the same inputs, in the clients' form (BYTES as base64 of raw bytes)."""
    name, datatype, data = held_out(model)
    values = ([base64.b64encode(item).decode() if name == "image" else item.decode() for item in data.ravel()]
              if datatype == "BYTES" else data.ravel().tolist())
    body = {"inputs": [{"name": name, "datatype": datatype, "shape": list(data.shape), "data": values}],
            "parameters": GENERATION.get(model, {})}
    answer = api.post(f"/v2/models/{model}/infer", json=body)
    assert answer.status_code == 200, answer.text
    outputs = {}
    for output in answer.json()["outputs"]:
        if output["datatype"] != "BYTES":
            outputs[output["name"]] = np.asarray(output["data"], np.float32 if output["datatype"] == "FP32"
                                                 else np.int64).reshape(output["shape"]).tolist()
        elif output["name"] == "image":  # binary content: REST's JSON carries it base64 already
            outputs[output["name"]] = output["data"]
        else:
            outputs[output["name"]] = [base64.b64encode(text.encode()).decode() for text in output["data"]]
    return outputs


@pytest.fixture(scope="module")
def rest_answers(api: httpx.Client) -> dict[str, dict[str, Any]]:
    return {model: rest_v2(api, model) for model in registry.names()}


@pytest.mark.parametrize("which", ["triton", "kserve"])
def test_real_clients_infer_every_model_as_rest_v2_answers(which: str, grpc_target: str,
                                                           rest_answers: dict[str, dict[str, Any]]) -> None:
    answers = run_client(which, grpc_target)
    assert answers.pop("server_ready") is True
    assert sorted(answers) == sorted(registry.names())
    for model, answer in answers.items():
        assert answer["ready"] is True, model
        assert answer["id"] == ("t-1" if which == "triton" else "k-1")
        assert answer["outputs"] == rest_answers[model], model
    # and the answers are right, not only alike: the digit classifier reads the held-out digits
    labels = [base64.b64decode(label).decode() for label in answers["cnn_digits"]["outputs"]["label"]]
    assert labels == [str(int(y)) for y in images.digits().y_test[:4]]


def test_metadata_and_readiness_match_rest(channel: grpc.Channel, api: httpx.Client) -> None:
    assert call(channel, "ServerLive", pb.ServerLiveRequest(), pb.ServerLiveResponse).live is True
    assert call(channel, "ServerReady", pb.ServerReadyRequest(), pb.ServerReadyResponse).ready is True
    server = call(channel, "ServerMetadata", pb.ServerMetadataRequest(), pb.ServerMetadataResponse)
    assert (server.name, server.version) == ("torchserve-stack", "0.1.0")
    for model in registry.names():
        assert call(channel, "ModelReady", pb.ModelReadyRequest(name=model), pb.ModelReadyResponse).ready is True
        rest = api.get(f"/v2/models/{model}").json()
        meta = call(channel, "ModelMetadata", pb.ModelMetadataRequest(name=model, version=rest["versions"][0]),
                    pb.ModelMetadataResponse)
        assert call(channel, "ModelMetadata", pb.ModelMetadataRequest(name=model), pb.ModelMetadataResponse) == meta
        assert (meta.name, list(meta.versions), meta.platform) == (rest["name"], rest["versions"], rest["platform"])
        assert [{"name": t.name, "datatype": t.datatype, "shape": list(t.shape)} for t in meta.inputs] == \
            rest["inputs"]
        assert [{"name": t.name, "datatype": t.datatype, "shape": list(t.shape)} for t in meta.outputs] == \
            rest["outputs"]
        streams = str(registry.get(model).kind) == "text-generation"  # metadata says whether it streams
        assert (meta.parameters["streams"].bool_param, rest["parameters"]) == (streams, {"streams": streams})


def test_grpc_health_v1_is_serving_without_a_key(channel: grpc.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", "inference.GRPCInferenceService"):
        answer = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=30)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
    with pytest.raises(grpc.RpcError) as caught:
        health.Check(health_pb2.HealthCheckRequest(service="nope"), timeout=30)
    assert (caught.value.code(), caught.value.details()) == (CODE.NOT_FOUND, "unknown service 'nope'")
    stream = health.Watch(health_pb2.HealthCheckRequest(service=""), timeout=30)
    assert next(stream).status == health_pb2.HealthCheckResponse.SERVING
    stream.cancel()
    assert call(channel, "ServerLive", pb.ServerLiveRequest(), pb.ServerLiveResponse, metadata=()).live is True


def _mlp(raw: bytes, shape: tuple[int, ...] = (1, 13), **fields: Any) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name="mlp_classifier", raw_input_contents=[raw], **fields)
    request.inputs.add(name="features", datatype="FP32", shape=shape)
    return request


ROW = np.zeros((1, 13), np.float32).tobytes()


def test_the_other_key_works_and_a_missing_or_wrong_key_is_unauthenticated(channel: grpc.Channel) -> None:
    other = (("authorization", f"Bearer {OTHER_KEY}"),)
    assert len(call(channel, "ModelInfer", _mlp(ROW), pb.ModelInferResponse, metadata=other).outputs) == 2
    assert refusal(channel, "ModelInfer", _mlp(ROW), metadata=()) == (
        CODE.UNAUTHENTICATED, "missing API key: send 'Authorization: Bearer <key>'")
    assert refusal(channel, "ModelInfer", _mlp(ROW), metadata=(("authorization", "Bearer wrong-key"),)) == (
        CODE.UNAUTHENTICATED, "invalid API key")
    assert refusal(channel, "ModelMetadata", pb.ModelMetadataRequest(name="mlp_classifier"), metadata=()) == (
        CODE.UNAUTHENTICATED, "missing API key: send 'Authorization: Bearer <key>'")


@pytest.mark.parametrize(("method", "request_", "expected"), [
    ("ModelInfer", pb.ModelInferRequest(model_name="nope"), (CODE.NOT_FOUND, "model 'nope' not found")),
    ("ModelMetadata", pb.ModelMetadataRequest(name="mlp_classifier", version="9"),
     (CODE.NOT_FOUND, "model 'mlp_classifier' has no version '9' (served: 1.0)")),
    ("ModelReady", pb.ModelReadyRequest(name="nope"), (CODE.NOT_FOUND, "model 'nope' not found")),
    ("ModelInfer", _mlp(ROW[:-4]), (CODE.INVALID_ARGUMENT, "input 'features': 13 FP32 elements need 52 bytes of "
                                    "binary data, its raw_input_contents hold 48")),
    ("ModelInfer", _mlp(ROW[:8], (1, 2)),
     (CODE.INVALID_ARGUMENT, "input 'features' must have shape [-1, 13] (-1: any), got [1, 2]")),
    ("ModelInfer", _mlp(np.full((1, 13), np.inf, np.float32).tobytes()),
     (CODE.INVALID_ARGUMENT, "input 'features': binary FP32 element 0 is inf; inputs must be finite")),
    ("ModelInfer", _mlp(ROW, outputs=[pb.ModelInferRequest.InferRequestedOutputTensor(name="score")]),
     (CODE.INVALID_ARGUMENT, "unknown output(s) ['score']; this model has ['label', 'probabilities']")),
], ids=["unknown-model", "unknown-version", "unknown-model-ready", "raw-size", "contract-shape", "infinity",
        "unknown-output"])
def test_bad_calls_get_their_status(channel: grpc.Channel, method: str, request_: Any,
                                    expected: tuple[Any, str]) -> None:
    assert refusal(channel, method, request_) == expected


@pytest.mark.parametrize("payload", [b"\xff", b"\x0a\x05ab", b"\x2a\x80\x80", b"\x0b", b"\x3a\xff\xff\xff\xff\x0f"],
                         ids=["bad-tag", "cut-string", "cut-varint", "group-start", "huge-length"])
def test_malformed_protobuf_is_invalid_argument(channel: grpc.Channel, payload: bytes) -> None:
    error = raw_call(channel, "ModelInfer", payload)
    assert (error.code(), error.details()) == (
        CODE.INVALID_ARGUMENT, "the request is not a valid inference.ModelInferRequest message")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=st.binary(max_size=300))
def test_arbitrary_bytes_never_get_a_server_fault(channel: grpc.Channel, payload: bytes) -> None:
    error = raw_call(channel, "ModelInfer", payload)
    assert error.code() in (CODE.INVALID_ARGUMENT, CODE.NOT_FOUND), (error.code(), error.details())


def test_a_message_over_the_body_limit_is_resource_exhausted(channel: grpc.Channel) -> None:
    big = _mlp(b"\0" * (8 * 1024 * 1024 + 1))
    code, details = refusal(channel, "ModelInfer", big)
    assert code == CODE.RESOURCE_EXHAUSTED
    assert "Received message larger than max" in details
    assert len(call(channel, "ModelInfer", _mlp(ROW), pb.ModelInferResponse).outputs) == 2  # still serving


def test_an_unknown_method_is_unimplemented(channel: grpc.Channel) -> None:
    assert raw_call(channel, "RepositoryIndex", b"").code() == CODE.UNIMPLEMENTED


def test_the_request_id_comes_back_in_the_trailers(channel: grpc.Channel) -> None:
    stub = channel.unary_unary(SERVICE + "ModelInfer", request_serializer=pb.ModelInferRequest.SerializeToString,
                               response_deserializer=pb.ModelInferResponse.FromString)
    _, done = stub.with_call(_mlp(ROW), metadata=(*AUTH, ("x-request-id", "grpc-abc.1")), timeout=60)
    assert ("x-request-id", "grpc-abc.1") in tuple(done.trailing_metadata())
    error = raw_call(channel, "ModelInfer", b"\xff", (*AUTH, ("x-request-id", "bad id with spaces")))
    ids = [value for key, value in error.trailing_metadata() if key == "x-request-id"]  # type: ignore[attr-defined]
    assert len(ids) == 1
    assert len(ids[0]) == 32  # unsafe ids are replaced by a fresh one
    assert ids[0] != "bad id with spaces"
