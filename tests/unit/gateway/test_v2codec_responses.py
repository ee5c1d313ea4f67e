"""Encoding v2 responses: what encode_response writes, tritonclient reads back exactly; outputs it cannot
encode raise OutputError (a server fault), never CodecError (a client's)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tritonclient.http as triton

from serving.gateway.v2codec import HEADER_LENGTH, CodecError, OutputError, Tensor, encode_response


def _outputs() -> list[Tensor]:
    return [Tensor("probabilities", "FP32", (2, 2), np.array([[0.1, 0.9], [1e-38, 3.4e38]], dtype=np.float32)),
            Tensor("index", "INT64", (2,), np.array([2**63 - 1, -(2**63)], dtype=np.int64)),
            Tensor("image", "BYTES", (1,), [b"\x89PNG\x00\xff"]),
            Tensor("label", "BYTES", (2,), np.array([b"seven", "s\u00e9pt".encode()], dtype=np.object_)),
            Tensor("scores", "FP32", (3,), np.array([0.25, -1.5, 1 / 3], dtype=np.float32)),
            Tensor("ids", "INT64", (1, 1), np.array([[-7]], dtype=np.int64))]


def test_tritonclient_reads_binary_and_json_outputs_exactly() -> None:
    outputs = _outputs()
    body, headers = encode_response("mnist", "1", "r1", outputs, {"probabilities", "index", "image"})
    _, json_length = json.JSONDecoder().raw_decode(body.decode("latin-1"))  # the JSON part is ASCII
    assert headers == {HEADER_LENGTH: str(json_length), "Content-Type": "application/octet-stream"}
    result = triton.InferResult.from_response_body(body, verbose=False, header_length=int(headers[HEADER_LENGTH]))
    for tensor in outputs[:2] + outputs[4:]:
        np.testing.assert_array_equal(result.as_numpy(tensor.name), tensor.data, strict=True)
    np.testing.assert_array_equal(result.as_numpy("image"), np.array([b"\x89PNG\x00\xff"], dtype=np.object_))
    # tritonclient turns JSON BYTES into str, not bytes (np.array(data, dtype=object) of the JSON strings)
    assert result.as_numpy("label").tolist() == ["seven", "s\u00e9pt"]
    response = result.get_response()
    assert (response["model_name"], response["model_version"], response["id"]) == ("mnist", "1", "r1")
    assert response["outputs"][0]["parameters"] == {"binary_data_size": 16}
    assert "data" not in response["outputs"][0]
    assert response["outputs"][4]["data"] == [0.25, -1.5, float(np.float32(1 / 3))]


def test_a_response_without_binary_outputs_is_plain_json() -> None:
    outputs = _outputs()
    outputs[2] = Tensor("image", "BYTES", (1,), [b"aGk="])
    body, headers = encode_response("mnist", None, None, outputs, set())
    assert headers == {"Content-Type": "application/json"}
    document = json.loads(body)
    assert set(document) == {"model_name", "outputs"}
    assert document["outputs"][1] == {"name": "index", "datatype": "INT64", "shape": [2],
                                      "data": [2**63 - 1, -(2**63)]}
    result = triton.InferResult.from_response_body(body, verbose=False, header_length=None)
    np.testing.assert_array_equal(result.as_numpy("probabilities"), outputs[0].data, strict=True)
    np.testing.assert_array_equal(result.as_numpy("index"), outputs[1].data, strict=True)


def test_output_parameters_are_kept_and_binary_data_size_is_the_codec_s() -> None:
    tensor = Tensor("x", "BOOL", (2,), np.array([True, False]), {"binary_data_size": 99, "unit": "flag"})
    body, headers = encode_response("m", "2", None, [tensor], {"x"})
    header = json.loads(body[:int(headers[HEADER_LENGTH])])
    assert header["outputs"][0]["parameters"] == {"unit": "flag", "binary_data_size": 2}
    assert body[int(headers[HEADER_LENGTH]):] == b"\x01\x00"
    body, _ = encode_response("m", "2", None, [tensor], set())
    assert json.loads(body)["outputs"][0] == {"name": "x", "datatype": "BOOL", "shape": [2], "data": [True, False],
                                              "parameters": {"unit": "flag"}}


BAD_OUTPUTS = [
    pytest.param([Tensor("x", "FP32", (1,), np.array([np.nan], np.float32))], set(), "NaN or infinity",
                 id="nan-in-json"),
    pytest.param([Tensor("x", "BYTES", (1,), [b"\xff"])], set(), "not UTF-8; base64-encode", id="binary-in-json"),
    pytest.param([Tensor("x", "FP32", (1,), np.array([1.0]))], set(), "must be a float32 array of shape", id="dtype"),
    pytest.param([Tensor("x", "FP32", (2,), np.array([1.0], np.float32))], {"x"}, "of shape \\(2,\\)", id="shape"),
    pytest.param([Tensor("x", "BYTES", (2,), [b"a"])], {"x"}, "must hold 2 bytes elements", id="bytes-count"),
    pytest.param([Tensor("x", "BYTES", (1,), ["a"])], set(), "must hold 1 bytes elements", id="str-not-bytes"),
    pytest.param([Tensor("x", "UINT16", (1,), np.array([1], np.uint16))], set(), "which the codec does not support",
                 id="datatype"),
    pytest.param([Tensor("x", "BOOL", (1,), np.array([True]))], {"y"}, "binary outputs \\['y'\\] are not among",
                 id="unknown-binary"),
    pytest.param([Tensor("x", "BOOL", (1,), np.array([True]))] * 2, set(), "output names repeat", id="duplicate"),
    pytest.param([Tensor("x", "BOOL", (1,), np.array([True]), {"p": object()})], set(), "cannot be written as JSON",
                 id="parameter-not-json"),
]


@pytest.mark.parametrize(("outputs", "binary", "message"), BAD_OUTPUTS)
def test_outputs_that_cannot_be_encoded_are_server_faults(outputs: list[Tensor], binary: set[str],
                                                          message: str) -> None:
    with pytest.raises(OutputError, match=message) as caught:
        encode_response("m", None, None, outputs, binary)
    assert not isinstance(caught.value, CodecError)
