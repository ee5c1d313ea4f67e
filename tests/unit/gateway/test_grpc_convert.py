"""gRPC messages ↔ the codec's types, without a server: what tritonclient.grpc and the kserve SDK send (raw
contents, typed contents) comes out exactly, and every refusal is the codec's CodecError with its message."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from serving.gateway.frontends.grpc_v2 import convert
from serving.gateway.frontends.grpc_v2 import inference_pb2 as pb
from serving.gateway.v2codec import CodecError, InferRequest, RequestedOutput, Tensor


def _request(*inputs: dict[str, object], raw: list[bytes] | None = None, **fields: object) -> pb.ModelInferRequest:
    message = pb.ModelInferRequest(model_name="m", raw_input_contents=raw or [], **fields)  # type: ignore[arg-type]
    for spec in inputs:
        message.inputs.add(**spec)  # type: ignore[arg-type]
    return message


def _bytes_elements(*items: bytes) -> bytes:
    return b"".join(struct.pack("<I", len(item)) + item for item in items)


def test_raw_fp32_rows_come_out_as_an_array_of_their_shape() -> None:
    rows = np.array([[1.5, -2.0, 3.25], [0.0, 7.0, -1.0]], dtype=np.float32)
    parsed = convert.infer_request(_request({"name": "features", "datatype": "FP32", "shape": [2, 3]},
                                            raw=[rows.tobytes()], id="req-7"))
    (tensor,) = parsed.inputs
    assert (tensor.name, tensor.datatype, tensor.shape, tensor.binary) == ("features", "FP32", (2, 3), True)
    assert isinstance(tensor.data, np.ndarray)
    assert tensor.data.dtype == np.float32
    assert tensor.data.tolist() == rows.tolist()
    assert parsed.id == "req-7"
    assert parsed.requested_outputs == []


def test_raw_bytes_elements_are_split_by_their_length_prefixes() -> None:
    parsed = convert.infer_request(_request({"name": "image", "datatype": "BYTES", "shape": [2]},
                                            raw=[_bytes_elements(b"\x89PNG", b"")]))
    assert parsed.inputs[0].data == [b"\x89PNG", b""]
    assert parsed.id is None


@pytest.mark.parametrize(("datatype", "field", "values", "expected"), [
    ("FP32", "fp32_contents", [0.5, 2.0], [0.5, 2.0]),
    ("FP64", "fp64_contents", [0.1, -3.0], [0.1, -3.0]),
    ("INT64", "int64_contents", [1, 7], [1, 7]),
    ("INT32", "int_contents", [-5, 9], [-5, 9]),
    ("INT8", "int_contents", [-128, 127], [-128, 127]),
    ("UINT8", "uint_contents", [0, 255], [0, 255]),
    ("BOOL", "bool_contents", [True, False], [True, False]),
], ids=lambda value: value if isinstance(value, str) else "")
def test_typed_contents_as_the_kserve_sdk_sends_them(datatype: str, field: str, values: list[object],
                                                      expected: list[object]) -> None:
    tensor = pb.ModelInferRequest.InferInputTensor(name="x", datatype=datatype, shape=[2])
    getattr(tensor.contents, field).extend(values)
    parsed = convert.infer_request(pb.ModelInferRequest(model_name="m", inputs=[tensor]))
    data = parsed.inputs[0].data
    assert isinstance(data, np.ndarray)
    assert data.tolist() == expected
    assert str(data.dtype) == {"FP32": "float32", "FP64": "float64", "INT64": "int64", "INT32": "int32",
                               "INT8": "int8", "UINT8": "uint8", "BOOL": "bool"}[datatype]


def test_bytes_contents_and_every_kind_of_parameter() -> None:
    tensor = pb.ModelInferRequest.InferInputTensor(name="prompt", datatype="BYTES", shape=[2])
    tensor.contents.bytes_contents.extend([b"def ", b"The with"])
    message = pb.ModelInferRequest(model_name="char_rnn", inputs=[tensor])
    message.parameters["seed"].int64_param = 3
    message.parameters["temperature"].double_param = 0.5
    message.parameters["big"].uint64_param = 2**63
    message.parameters["sample"].bool_param = True
    message.parameters["note"].string_param = "x"
    parsed = convert.infer_request(message)
    assert parsed.inputs[0].data == [b"def ", b"The with"]
    assert parsed.parameters == {"seed": 3, "temperature": 0.5, "big": 2**63, "sample": True, "note": "x"}


def test_requested_outputs_keep_their_order() -> None:
    message = _request({"name": "x", "datatype": "INT64", "shape": [1]}, raw=[np.int64(1).tobytes()],
                       outputs=[pb.ModelInferRequest.InferRequestedOutputTensor(name="q_values"),
                                pb.ModelInferRequest.InferRequestedOutputTensor(name="action")])
    assert [o.name for o in convert.infer_request(message).requested_outputs] == ["q_values", "action"]


def _refusal(message: pb.ModelInferRequest) -> str:
    with pytest.raises(CodecError) as caught:
        convert.infer_request(message, max_elements=1000)
    return caught.value.message


FP32_2 = {"name": "x", "datatype": "FP32", "shape": [2]}


@pytest.mark.parametrize(("message", "error"), [
    pytest.param(_request(FP32_2, raw=[b"\0" * 7]),
                 "input 'x': 2 FP32 elements need 8 bytes of binary data, its raw_input_contents hold 7",
                 id="raw-size-vs-shape"),
    pytest.param(_request(FP32_2, raw=[b"\0" * 8, b"\0" * 8]),
                 "raw_input_contents has 2 entries for 1 inputs; send one per input, in order", id="raw-count"),
    pytest.param(_request({"name": "s", "datatype": "BYTES", "shape": [2]}, raw=[_bytes_elements(b"a")]),
                 "input 's': its shape needs 2 BYTES elements, the binary data holds 1", id="raw-bytes-count"),
    pytest.param(_request({"name": "s", "datatype": "BYTES", "shape": [1]}, raw=[b"\x09\0\0\0abc"]),
                 "input 's': binary BYTES element 0 says 9 bytes but only 3 remain in its binary_data_size",
                 id="raw-bytes-cut"),
    pytest.param(_request({**FP32_2, "contents": pb.InferTensorContents(fp32_contents=[1.0, 2.0])},
                          raw=[b"\0" * 8]),
                 "input 'x' has both contents and raw_input_contents; send one or the other", id="raw-and-contents"),
    pytest.param(_request({**FP32_2, "contents": pb.InferTensorContents(int64_contents=[1, 2])}),
                 "input 'x' is FP32: its elements go in fp32_contents, got int64_contents", id="wrong-field"),
    pytest.param(_request({"name": "h", "datatype": "FP16", "shape": [1],
                           "contents": pb.InferTensorContents(fp32_contents=[1.0])}),
                 "input 'h' is FP16: its elements go in raw_input_contents only, got fp32_contents", id="fp16-typed"),
    pytest.param(_request({"name": "h", "datatype": "FP16", "shape": [1]}),
                 "input 'h' has no elements: send them in raw_input_contents or as typed contents", id="no-data"),
    pytest.param(_request({**FP32_2, "contents": pb.InferTensorContents(fp32_contents=[1.0])}),
                 "input 'x': shape [2] needs 2 elements, its contents hold 1", id="typed-count"),
    pytest.param(_request({"name": "i", "datatype": "INT8", "shape": [1],
                           "contents": pb.InferTensorContents(int_contents=[300])}),
                 "input 'i': INT8 element 0 (300) is out of range [-128, 127]", id="int8-range"),
    pytest.param(_request({**FP32_2, "contents": pb.InferTensorContents(fp32_contents=[1.0, float("nan")])}),
                 "input 'x': FP32 element 1 (nan) is not a finite FP32 number (at most 3.4028234663852886e+38 in "
                 "size)", id="nan"),
    pytest.param(_request({"name": "x", "datatype": "FP32", "shape": [-1]}, raw=[b""]),
                 "input 'x': shape [-1] must hold non-negative integers, not the number -1 (a request's shape is "
                 "concrete: no -1)", id="negative-shape"),
    pytest.param(_request({"name": "x", "datatype": "FLOAT", "shape": [1],
                           "contents": pb.InferTensorContents(fp32_contents=[1.0])}),
                 "input 'x' has datatype 'FLOAT'; supported: BOOL, UINT8, INT8, INT16, INT32, INT64, FP16, FP32, "
                 "FP64, BYTES", id="unknown-datatype"),
    pytest.param(_request(), "'inputs' is empty; a request needs at least one input tensor", id="no-inputs"),
    pytest.param(_request({"name": "", "datatype": "FP32", "shape": [0]}, raw=[b""]),
                 "inputs[0] needs a 'name' (a non-empty string), got a string ''", id="no-name"),
    pytest.param(_request(FP32_2, FP32_2, raw=[b"\0" * 8, b"\0" * 8]), "input 'x' appears more than once",
                 id="repeated-input"),
    pytest.param(_request({"name": "x", "datatype": "FP32", "shape": [100, 100]}, raw=[b""]),
                 "input 'x' with shape [100, 100] brings the request to 10000 elements; at most 1000 are allowed",
                 id="too-many-elements"),
    pytest.param(_request({**FP32_2, "parameters": {"shared_memory_region": pb.InferParameter(string_param="r")}},
                          raw=[b"\0" * 8]),
                 "input 'x' uses the shared memory extension ('shared_memory_region'), which this server does "
                 "not support", id="shared-memory"),
    pytest.param(_request({**FP32_2, "parameters": {"k": pb.InferParameter()}}, raw=[b"\0" * 8]),
                 "input 'x': parameter 'k' has no value", id="empty-parameter"),
    pytest.param(_request(FP32_2, raw=[b"\0" * 8],
                          outputs=[pb.ModelInferRequest.InferRequestedOutputTensor(name="a"),
                                   pb.ModelInferRequest.InferRequestedOutputTensor(name="a")]),
                 "requested output 'a' appears more than once", id="repeated-output"),
])
def test_refusals_name_the_mistake(message: pb.ModelInferRequest, error: str) -> None:
    assert _refusal(message) == error


def _outputs() -> list[Tensor]:
    return [Tensor("label", "BYTES", (2,), [b"class_0", b"class_2"]),
            Tensor("probabilities", "FP32", (2, 3), np.array([[0.9, 0.05, 0.05], [0.1, 0.1, 0.8]], np.float32))]


def _infer(*requested: str, request_id: str | None = None) -> InferRequest:
    return InferRequest(request_id, [], {}, [RequestedOutput(name, True) for name in requested], True)


def test_the_response_carries_every_output_as_raw_contents() -> None:
    response = convert.infer_response("mlp_classifier", "1", _infer(request_id="abc"), _outputs())
    assert (response.model_name, response.model_version, response.id) == ("mlp_classifier", "1", "abc")
    assert [(o.name, o.datatype, list(o.shape)) for o in response.outputs] == [
        ("label", "BYTES", [2]), ("probabilities", "FP32", [2, 3])]
    assert response.raw_output_contents[0] == _bytes_elements(b"class_0", b"class_2")
    probabilities = np.frombuffer(response.raw_output_contents[1], dtype="<f4").reshape(2, 3)
    assert probabilities.tolist() == _outputs()[1].data.tolist()  # type: ignore[union-attr]
    assert not any(o.HasField("contents") for o in response.outputs)


def test_the_response_holds_only_the_requested_outputs_in_their_order() -> None:
    response = convert.infer_response("m", "1", _infer("probabilities"), _outputs())
    assert [o.name for o in response.outputs] == ["probabilities"]
    assert len(response.raw_output_contents) == 1
    with pytest.raises(CodecError, match=r"^unknown output\(s\) \['score'\]; this model has \['label', "
                                         r"'probabilities'\]$"):
        convert.infer_response("m", "1", _infer("score"), _outputs())
