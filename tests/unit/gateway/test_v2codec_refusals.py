"""Parsing v2 requests: malformed bodies, JSON, binary data and headers are refused with a CodecError that says
what is wrong."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from serving.gateway.v2codec import (
    CodecError,
    decode_base64,
    parse_header_length,
    parse_request,
)
from tests.unit.gateway.v2codec_helpers import _body, _fp32, _only, _request

# --- requests refused with a clear message --------------------------------------------------------------------

DEEP: Any = 0
for _ in range(40):
    DEEP = [DEEP]

BAD_JSON = [
    pytest.param(b'{"inputs": [', "the request body is not valid JSON: Expecting value", id="not-json"),
    pytest.param(b"", "the request body is not valid JSON", id="empty-body"),
    pytest.param(b'{"inputs": "\xff"}', "the request JSON is not valid UTF-8 \\(byte 12\\)", id="not-utf8"),
    pytest.param(b"[1]", "must be a JSON object, got a list of 1", id="not-object"),
    pytest.param(b'"x"', "must be a JSON object, got a string 'x'", id="string-document"),
    pytest.param(_body({"inputs": [], "deep": DEEP}), "nested deeper than 32 levels", id="too-deep"),
    pytest.param(b"[" * 100_000, "nested deeper than 32 levels", id="far-too-deep"),
    pytest.param(b'{"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [NaN]}]}',
                 "holds NaN, which is not JSON", id="nan-literal"),
    pytest.param(b'{"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [-Infinity]}]}',
                 "holds -Infinity, which is not JSON", id="infinity-literal"),
    pytest.param(b'{"inputs": [{"name": "x", "shape": [1], "datatype": "INT64", "data": [' + b"9" * 5000 + b"]}]}",
                 "not valid JSON: Exceeds the limit", id="huge-integer-literal"),
    pytest.param(b'{"inputs": [{"name": "d", "shape": [1], "datatype": "FP64", "data": [1e400]}]}',
                 "input 'd': FP64 element 0 \\(inf\\) is not a finite FP64 number", id="overflowing-literal"),
]

BAD_REQUESTS = [
    pytest.param({}, "the request has no 'inputs'", id="no-inputs"),
    pytest.param({"inputs": {"name": "x"}}, "'inputs' must be a list of tensors, got an object", id="inputs-object"),
    pytest.param({"inputs": []}, "'inputs' is empty; a request needs at least one input tensor", id="inputs-empty"),
    pytest.param({"inputs": [1]}, "inputs\\[0\\] must be an object, got the number 1", id="input-not-object"),
    pytest.param({"inputs": [_fp32([1]), _fp32([2])]}, "input 'x' appears more than once", id="duplicate-input"),
    pytest.param({"inputs": [{"shape": [1], "datatype": "FP32", "data": [1]}]},
                 "inputs\\[0\\] needs a 'name' \\(a non-empty string\\), got null", id="no-name"),
    pytest.param({"inputs": [{"name": 3, "shape": [1], "datatype": "FP32", "data": [1]}]},
                 "inputs\\[0\\] needs a 'name'", id="name-number"),
    pytest.param({"inputs": [{"name": "x", "datatype": "FP32", "data": [1]}]}, "input 'x' has no 'shape'",
                 id="no-shape"),
    pytest.param({"inputs": [{"name": "x", "shape": [1], "data": [1]}]}, "input 'x' has no 'datatype'",
                 id="no-datatype"),
    pytest.param({"inputs": [{"name": "x", "shape": [1], "datatype": "UINT16", "data": [1]}]},
                 "input 'x' has datatype 'UINT16'; supported: BOOL, UINT8, INT8, INT16, INT32, INT64, FP16, FP32, "
                 "FP64, BYTES", id="unknown-datatype"),
    pytest.param({"inputs": [{"name": "x", "shape": [1], "datatype": ["FP32"], "data": [1]}]},
                 "has datatype \\['FP32'\\]; supported", id="datatype-list"),
    pytest.param({"inputs": [_fp32([1], [-1])]},
                 "input 'x': shape \\[-1\\] must hold non-negative integers, not the number -1 \\(a request's shape "
                 "is concrete: no -1\\)", id="negative-dim"),
    pytest.param({"inputs": [_fp32([1], [1.0])]}, "not the number 1.0", id="float-dim"),
    pytest.param({"inputs": [_fp32([1], ["1"])]}, "not a string '1'", id="string-dim"),
    pytest.param({"inputs": [_fp32([1], [True])]}, "not true", id="bool-dim"),
    pytest.param({"inputs": [_fp32([1], 1)]}, "'shape' must be a list of at most 32 non-negative integers, got the "
                 "number 1", id="shape-number"),
    pytest.param({"inputs": [_fp32([1], [1] * 33)]}, "at most 32 non-negative integers, got a list of 33",
                 id="too-many-dims"),
    pytest.param({"inputs": [_fp32([1, 2, 3, 4, 5], [2, 3])]},
                 "input 'x': shape \\[2, 3\\] needs 6 elements, 'data' has 5", id="count-mismatch"),
    pytest.param({"inputs": [_fp32([[1, 2, 3], [4, 5, 6], [7]], [3, 3])]},
                 "input 'x': nested 'data' is not rectangular", id="ragged"),
    pytest.param({"inputs": [_fp32([[1, 2], 3, 4], [4])]}, "nested 'data' is not rectangular", id="mixed-depth"),
    pytest.param({"inputs": [_fp32(5, [1])]}, "input 'x': 'data' must be a list, got the number 5", id="data-scalar"),
    pytest.param({"inputs": [_fp32([1.5, "2"])]}, "input 'x': FP32 element 1 is a string '2'; expected a number",
                 id="string-in-fp32"),
    pytest.param({"inputs": [_fp32([1, True])]}, "FP32 element 1 is true; expected a number", id="bool-in-fp32"),
    pytest.param({"inputs": [_fp32([None])]}, "FP32 element 0 is null; expected a number", id="null-in-fp32"),
    pytest.param({"inputs": [_fp32([1e39])]}, "FP32 element 0 \\(1e\\+39\\) is not a finite FP32 number",
                 id="beyond-fp32"),
    pytest.param({"inputs": [_fp32([10**400])]}, "FP32 element 0 \\(10000", id="integer-beyond-float64"),
    pytest.param({"inputs": [{"name": "h", "shape": [2], "datatype": "FP16", "data": [1, 70000]}]},
                 "FP16 element 1 \\(70000\\) is not a finite FP16 number", id="beyond-fp16"),
    pytest.param({"inputs": [{"name": "i", "shape": [2], "datatype": "INT64", "data": [1, 2.5]}]},
                 "input 'i': INT64 element 1 \\(2.5\\) is not an integer", id="fraction-in-int64"),
    pytest.param({"inputs": [{"name": "i", "shape": [1], "datatype": "INT64", "data": [2**63]}]},
                 "INT64 element 0 \\(9223372036854775808\\) is out of range \\[-9223372036854775808, "
                 "9223372036854775807\\]", id="beyond-int64"),
    pytest.param({"inputs": [{"name": "i", "shape": [2], "datatype": "INT8", "data": [0, 128]}]},
                 "INT8 element 1 \\(128\\) is out of range \\[-128, 127\\]", id="beyond-int8"),
    pytest.param({"inputs": [{"name": "u", "shape": [1], "datatype": "UINT8", "data": [-1.0]}]},
                 "UINT8 element 0 \\(-1.0\\) is out of range \\[0, 255\\]", id="negative-uint8"),
    pytest.param({"inputs": [{"name": "b", "shape": [2], "datatype": "BOOL", "data": [True, 1]}]},
                 "BOOL element 1 is the number 1; expected true or false", id="number-in-bool"),
    pytest.param({"inputs": [{"name": "s", "shape": [2], "datatype": "BYTES", "data": ["a", 1]}]},
                 "input 's': BYTES element 1 is the number 1; expected a string", id="number-in-bytes"),
    pytest.param({"inputs": [{"name": "s", "shape": [1], "datatype": "BYTES", "data": ["\ud800"]}]},
                 "a BYTES string is not valid Unicode", id="lone-surrogate"),
    pytest.param({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32"}]},
                 "input 'x' has no 'data' and no binary_data_size parameter", id="no-data"),
    pytest.param({"inputs": [_fp32([1], parameters=[])]}, "input 'x': 'parameters' must be an object, got a list of 0",
                 id="input-parameters-list"),
    pytest.param({"inputs": [_fp32([1], parameters={"shared_memory_region": "r"})]},
                 "input 'x' uses the shared memory extension \\('shared_memory_region'\\), which this server does "
                 "not support", id="shared-memory"),
    pytest.param({"inputs": [_fp32([1])], "id": 7}, "the request 'id' must be a string, got the number 7", id="id"),
    pytest.param({"inputs": [_fp32([1])], "parameters": "x"},
                 "the request: 'parameters' must be an object, got a string 'x'", id="request-parameters"),
    pytest.param({"inputs": [_fp32([1])], "parameters": {"binary_data_output": "yes"}},
                 "'binary_data_output' must be true or false, got a string 'yes'", id="binary-data-output"),
    pytest.param({"inputs": [_fp32([1])], "outputs": {"name": "y"}}, "'outputs' must be a list of objects",
                 id="outputs-object"),
    pytest.param({"inputs": [_fp32([1])], "outputs": [{"parameters": {}}]},
                 "outputs\\[0\\] must be an object with a 'name' \\(a non-empty string\\)", id="output-no-name"),
    pytest.param({"inputs": [_fp32([1])], "outputs": ["y"]}, "outputs\\[0\\] must be an object", id="output-str"),
    pytest.param({"inputs": [_fp32([1])], "outputs": [{"name": "y"}, {"name": "y"}]},
                 "requested output 'y' appears more than once", id="output-duplicate"),
    pytest.param({"inputs": [_fp32([1])], "outputs": [{"name": "y", "parameters": {"binary_data": 1}}]},
                 "requested output 'y': 'binary_data' must be true or false, got the number 1", id="binary-data"),
    pytest.param({"inputs": [_fp32([1])], "outputs": [{"name": "y", "parameters": {"classification": 3}}]},
                 "requested output 'y' uses the classification extension", id="classification"),
    pytest.param({"inputs": [_fp32([1])], "outputs": [{"name": "y", "parameters": 3}]},
                 "requested output 'y': 'parameters' must be an object", id="output-parameters"),
]


@pytest.mark.parametrize(("body", "message"), BAD_JSON)
def test_bodies_that_are_not_a_json_request_are_refused(body: bytes, message: str) -> None:
    with pytest.raises(CodecError, match=message):
        parse_request(body, None)


@pytest.mark.parametrize(("document", "message"), BAD_REQUESTS)
def test_malformed_requests_are_refused_with_what_is_wrong(document: dict[str, Any], message: str) -> None:
    with pytest.raises(CodecError, match=message) as caught:
        parse_request(_body(document), None)
    assert caught.value.message == str(caught.value)


def test_too_many_elements_are_refused_before_the_data_is_read() -> None:
    body = _request([_fp32([1] * 6, [2, 3]), {"name": "y", "shape": [5], "datatype": "BYTES", "data": "junk"}])
    with pytest.raises(CodecError, match="input 'y' with shape \\[5\\] brings the request to 11 elements; at most 10"):
        parse_request(body, None, max_elements=10)
    with pytest.raises(CodecError, match="brings the request to more than 2\\*\\*64 elements; at most 1000000"):
        parse_request(_request([_fp32([], [10**30, 10**30])]), None)
    assert _only(parse_request(_request([_fp32([1] * 10)]), None, max_elements=10)).shape == (10,)


@pytest.mark.parametrize("shape", [[0, 10**20], [0, 2**63], [1, 10**20, 4, 0], [0, 2**62, 2**62], [0, 11]])
def test_an_empty_tensor_with_huge_sides_is_refused(shape: list[int]) -> None:
    """Found by the gateway fuzz test: numpy raised a ValueError (a 500) shaping these zero-element tensors."""
    with pytest.raises(CodecError, match="whose non-zero sides make .* elements; at most 10 are allowed"):
        parse_request(_request([{"name": "x", "datatype": "BOOL", "shape": shape, "data": []}]), None,
                      max_elements=10)
    assert _only(parse_request(_request([_fp32([], [0, 10])]), None, max_elements=10)).shape == (0, 10)


def _binary_request(inputs: list[dict[str, Any]], tail: bytes) -> tuple[bytes, int]:
    head = _request(inputs)
    return head + tail, len(head)


def _binary_input(datatype: str, size: int, shape: list[int] | None = None, **fields: Any) -> dict[str, Any]:
    return {"name": "b", "shape": [2] if shape is None else shape, "datatype": datatype,
            "parameters": {"binary_data_size": size}, **fields}


BAD_BINARY = [
    pytest.param([_binary_input("FP32", 12)], b"\x00" * 8,
                 "input 'b' has binary_data_size 12 but only 8 bytes of binary data remain", id="size-past-body"),
    pytest.param([_binary_input("FP32", 8)], b"\x00" * 9,
                 "1 bytes of binary data follow the JSON that no input's binary_data_size accounts for",
                 id="bytes-left-over"),
    pytest.param([_binary_input("FP32", 4)], b"\x00" * 4,
                 "input 'b': 2 FP32 elements need 8 bytes of binary data, binary_data_size is 4", id="size-vs-shape"),
    pytest.param([_binary_input("FP32", -1)], b"", "binary_data_size must be a non-negative integer, got the number -1",
                 id="negative-size"),
    pytest.param([_binary_input("FP32", "8")], b"\x00" * 8, "binary_data_size must be a non-negative integer",
                 id="string-size"),
    pytest.param([_binary_input("FP32", 8, data=[1, 2])], b"\x00" * 8,
                 "input 'b' has both 'data' and a binary_data_size parameter", id="data-and-binary"),
    pytest.param([_binary_input("FP32", 8)], np.array([1, np.nan], "<f4").tobytes(),
                 "input 'b': binary FP32 element 1 is nan; inputs must be finite", id="nan"),
    pytest.param([_binary_input("FP64", 16)], np.array([-np.inf, 1], "<f8").tobytes(),
                 "binary FP64 element 0 is -inf", id="infinity"),
    pytest.param([_binary_input("BOOL", 2)], b"\x01\x02", "binary BOOL element 1 is 2; expected 0 or 1", id="bool"),
    pytest.param([_binary_input("BYTES", 9, [1])], b"\x06\x00\x00\x00hello",
                 "input 'b': binary BYTES element 0 says 6 bytes but only 5 remain", id="bytes-run-past"),
    pytest.param([_binary_input("BYTES", 9, [2])], b"\x02\x00\x00\x00hi\x01\x00\x00",
                 "binary BYTES element 1 has a cut-off 4-byte length", id="bytes-cut-length"),
    pytest.param([_binary_input("BYTES", 6, [2])], b"\x02\x00\x00\x00hi",
                 "its shape needs 2 BYTES elements, the binary data holds 1", id="bytes-too-few"),
    pytest.param([_binary_input("BYTES", 12, [1])], b"\x02\x00\x00\x00hi\x02\x00\x00\x00hi",
                 "its shape needs 1 BYTES elements, the binary data holds 2", id="bytes-too-many"),
]


@pytest.mark.parametrize(("inputs", "tail", "message"), BAD_BINARY)
def test_bad_binary_data_is_refused(inputs: list[dict[str, Any]], tail: bytes, message: str) -> None:
    body, header_length = _binary_request(inputs, tail)
    with pytest.raises(CodecError, match=message):
        parse_request(body, header_length)


def test_binary_data_needs_the_header_and_the_header_must_fit() -> None:
    body, header_length = _binary_request([_binary_input("INT32", 8)], b"\x00" * 8)
    with pytest.raises(CodecError, match="input 'b' has a binary_data_size but the request has no "
                                         "Inference-Header-Content-Length header"):
        parse_request(body[:header_length], None)
    with pytest.raises(CodecError, match=f"Inference-Header-Content-Length is {len(body) + 1} but the body has "
                                         f"{len(body)} bytes"):
        parse_request(body, len(body) + 1)
    with pytest.raises(CodecError, match="Inference-Header-Content-Length is -1"):
        parse_request(body, -1)
    with pytest.raises(CodecError, match="not valid JSON"):
        parse_request(body, header_length - 1)
    np.testing.assert_array_equal(_only(parse_request(body, header_length)).data, np.zeros(2, np.int32), strict=True)


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", "\u00b2", "", "+5", "\u0665", "\xa05"])
def test_a_bad_header_length_header_is_refused(value: str) -> None:
    with pytest.raises(CodecError, match="Inference-Header-Content-Length must be a non-negative integer, got"):
        parse_header_length(value)
    with pytest.raises(CodecError, match="^Inference-Header-Content-Length must be a number of at most 18 digits, "
                                         "got 5000 digits$"):
        parse_header_length("9" * 5000)


def test_a_header_length_header_is_read() -> None:
    assert (parse_header_length(None), parse_header_length("0"), parse_header_length(" 42\t")) == (None, 0, 42)


def test_base64_is_decoded_only_when_asked_and_valid() -> None:
    assert decode_base64(b"aGVs\nbG8=", "image") == b"hello"
    assert decode_base64(b"data:image/png;base64,iVBORw==", "image") == b"\x89PNG"
    for bad in (b"hello!", b"aGVsbG8", "h\u00e9".encode()):
        with pytest.raises(CodecError, match="input 'image' is not valid base64; BYTES sent in JSON for this input "
                                             "must be base64-encoded"):
            decode_base64(bad, "image")
