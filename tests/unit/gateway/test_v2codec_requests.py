"""Parsing v2 requests: bodies tritonclient writes come back exactly (the refusals are in
test_v2codec_refusals.py)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import tritonclient.http as triton

from serving.gateway.v2codec import (
    MAX_JSON_DEPTH,
    CodecError,
    RequestedOutput,
    parse_request,
)
from tests.unit.gateway.v2codec_helpers import NUMERIC, _fp32, _only, _request, _triton_body, _triton_input


def _extremes(datatype: str) -> np.ndarray:
    """A 2x3 array of the datatype holding its edge values."""
    dtype = np.dtype(NUMERIC[datatype])
    if dtype.kind == "b":
        values: list[Any] = [True, False, True, True, False, False]
    elif dtype.kind in "iu":
        info = np.iinfo(dtype)
        values = [info.min, info.max, 0, 1, info.max - 1, info.min + 1]
    else:
        finfo = np.finfo(dtype)
        values = [finfo.min, finfo.max, finfo.tiny, -0.0, 1 / 3, finfo.eps]
    return np.array(values, dtype=dtype).reshape(2, 3)


# --- requests as tritonclient writes them ---------------------------------------------------------------------


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
@pytest.mark.parametrize("datatype", list(NUMERIC))
def test_numeric_inputs_come_back_exactly(datatype: str, binary: bool) -> None:
    array = _extremes(datatype)
    body, json_size = _triton_body([_triton_input("x", array, datatype, binary)])
    tensor = _only(parse_request(body, json_size))
    assert (tensor.name, tensor.datatype, tensor.shape, tensor.binary, tensor.parameters) == \
        ("x", datatype, (2, 3), binary, {})
    assert isinstance(tensor.data, np.ndarray)
    assert tensor.data.dtype == array.dtype
    np.testing.assert_array_equal(tensor.data, array, strict=True)
    assert tensor.data.flags.writeable


def test_bytes_inputs_come_back_as_bytes_and_say_how_they_came() -> None:
    text = np.array([[b"hello", "h\u00e9llo".encode()], [b"", b"a b"]], dtype=np.object_)
    raw = np.array([b"\x89PNG\r\n\x1a\n\x00", b"\xff\xfe", b""], dtype=np.object_)
    body, json_size = _triton_body([_triton_input("text", text, "BYTES", binary=False),
                                    _triton_input("raw", raw, "BYTES", binary=True)])
    as_json, as_binary = parse_request(body, json_size).inputs
    assert (as_json.shape, as_json.binary) == ((2, 2), False)
    assert as_json.data == [b"hello", "h\u00e9llo".encode(), b"", b"a b"]
    assert (as_binary.shape, as_binary.binary) == ((3,), True)
    assert as_binary.data == [b"\x89PNG\r\n\x1a\n\x00", b"\xff\xfe", b""]


def test_binary_chunks_are_handed_out_in_input_order() -> None:
    a, b, c = np.arange(4, dtype=np.int32), np.array([0.5], dtype=np.float64), np.array([b"xyz"], dtype=np.object_)
    body, json_size = _triton_body([_triton_input("a", a, "INT32", True), _triton_input("j", a, "INT32", False),
                                    _triton_input("b", b, "FP64", True), _triton_input("c", c, "BYTES", True)])
    request = parse_request(body, json_size)
    assert [t.name for t in request.inputs] == ["a", "j", "b", "c"]
    assert [t.binary for t in request.inputs] == [True, False, True, True]
    np.testing.assert_array_equal(request.inputs[0].data, a, strict=True)
    np.testing.assert_array_equal(request.inputs[1].data, a.astype(np.int32), strict=True)
    np.testing.assert_array_equal(request.inputs[2].data, b, strict=True)
    assert request.inputs[3].data == [b"xyz"]


def test_empty_tensors_are_accepted() -> None:
    empty = np.empty((0, 3), dtype=np.float32)
    body, json_size = _triton_body([_triton_input("f", empty, "FP32", True),
                                    _triton_input("s", np.array([], dtype=np.object_), "BYTES", True),
                                    _triton_input("j", np.empty((2, 0), dtype=np.int64), "INT64", False)])
    f, s, j = parse_request(body, json_size).inputs
    assert isinstance(f.data, np.ndarray)
    assert isinstance(j.data, np.ndarray)
    assert (f.shape, f.data.shape, s.data, j.data.shape) == ((0, 3), (0, 3), [], (2, 0))


def test_requested_outputs_and_request_fields_are_kept() -> None:
    body, json_size = _triton_body(
        [_triton_input("x", np.ones(2, np.float32), "FP32", False)],
        [triton.InferRequestedOutput("probabilities", binary_data=True), triton.InferRequestedOutput("label", False)],
        request_id="r-\u00e9-1", priority=3, timeout=1000, custom_parameters={"temperature": 0.5})
    assert json_size is None  # no binary input: tritonclient sends no Inference-Header-Content-Length
    request = parse_request(body, json_size)
    assert request.id == "r-\u00e9-1"
    assert request.parameters == {"priority": 3, "timeout": 1000, "temperature": 0.5}
    assert request.requested_outputs == [RequestedOutput("probabilities", True), RequestedOutput("label", False)]
    assert request.binary_output_default is False
    assert request.binary_names(["label", "probabilities", "other"]) == {"probabilities"}


def test_no_requested_outputs_means_all_binary_for_tritonclient() -> None:
    body, json_size = _triton_body([_triton_input("x", np.ones(1, np.float32), "FP32", True)])
    request = parse_request(body, json_size)
    assert (request.id, request.requested_outputs, request.binary_output_default) == (None, [], True)
    assert request.parameters == {"binary_data_output": True}
    assert request.binary_names(["a", "b"]) == {"a", "b"}


def test_a_requested_output_without_binary_data_follows_the_request_default() -> None:
    body = _request([_fp32([1])], outputs=[{"name": "a"}, {"name": "b", "parameters": {"binary_data": False}}],
                    parameters={"binary_data_output": True})
    assert parse_request(body, None).requested_outputs == [RequestedOutput("a", True), RequestedOutput("b", False)]


def test_nested_row_major_data_and_parameters() -> None:
    body = _request([{"name": "x", "shape": [2, 2], "datatype": "INT64", "data": [[1, 2.0], [3, 4]],
                      "parameters": {"content_type": "np"}}])
    tensor = _only(parse_request(body, None))
    np.testing.assert_array_equal(tensor.data, np.array([[1, 2], [3, 4]], dtype=np.int64), strict=True)
    assert tensor.parameters == {"content_type": "np"}


def test_json_may_nest_exactly_as_deep_as_allowed() -> None:
    dims = MAX_JSON_DEPTH - 3  # the request object, 'inputs' and the input object hold the data lists
    data: Any = 1.5
    for _ in range(dims):
        data = [data]
    assert _only(parse_request(_request([_fp32(data, [1] * dims)]), None)).shape == (1,) * dims
    with pytest.raises(CodecError, match=f"nested deeper than {MAX_JSON_DEPTH} levels"):
        parse_request(_request([_fp32([data], [1] * (dims + 1))]), None)
