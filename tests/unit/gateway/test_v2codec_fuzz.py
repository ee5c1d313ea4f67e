"""Hypothesis properties of the v2 codec: random bytes, random JSON and near-valid requests are parsed or
refused with a CodecError and nothing else, and any finite tensor makes the round trip through tritonclient
exactly, as an input and as an output."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import tritonclient.http as triton
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from serving.gateway.v2codec import HEADER_LENGTH, CodecError, InferRequest, Tensor, encode_response, parse_request
from tests.unit.gateway.v2codec_helpers import NUMERIC, _only, _triton_body, _triton_input

FUZZ = settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


# --- fuzzing: bad input raises CodecError and nothing else --------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=30)
ELEMENTS = {"BOOL": st.booleans(), "BYTES": st.text(max_size=4)} | {
    datatype: st.integers(-300, 300) | st.floats(-1e5, 1e5, allow_nan=False).map(round)
    for datatype in ("UINT8", "INT8", "INT16", "INT32", "INT64")} | {
    datatype: st.integers(-10, 10) | st.floats(-1e40, 1e40, allow_nan=False) for datatype in ("FP16", "FP32", "FP64")}


@st.composite
def _input(draw: st.DrawFn, name: str) -> tuple[dict[str, Any], bytes | None]:
    """A valid input (JSON or binary) of a random type and shape, with values that may be out of range."""
    datatype = draw(st.sampled_from(list(ELEMENTS)))
    shape = draw(st.lists(st.integers(0, 3), max_size=3))
    count = int(np.prod(shape))
    item: dict[str, Any] = {"name": name, "shape": shape, "datatype": datatype}
    if not draw(st.booleans()):
        flat = draw(st.lists(ELEMENTS[datatype], min_size=count, max_size=count))
        nested = draw(st.booleans()) and count > 0
        item["data"] = np.array(flat, dtype=object).reshape(shape).tolist() if nested else flat
        return item, None
    if datatype == "BYTES":
        chunk = b"".join(len(e).to_bytes(4, "little") + e for e in draw(st.lists(st.binary(max_size=4),
                                                                                  min_size=count, max_size=count)))
    else:
        size = count * np.dtype(NUMERIC[datatype]).itemsize
        chunk = draw(st.binary(min_size=size, max_size=size))
    item["parameters"] = {"binary_data_size": len(chunk)}
    return item, chunk


@st.composite
def _near_valid_requests(draw: st.DrawFn) -> tuple[bytes, int | None]:
    """A request tritonclient could send, then (usually) one corruption of its JSON, its tail or its header."""
    names = draw(st.lists(st.sampled_from("xyz"), min_size=1, max_size=3, unique=True))
    drawn = [draw(_input(name)) for name in names]
    document: dict[str, Any] = {"inputs": [item for item, _ in drawn],
                                "outputs": [{"name": "out", "parameters": {"binary_data": draw(st.booleans())}}]}
    tail = b"".join(chunk for _, chunk in drawn if chunk is not None)
    binary = any(chunk is not None for _, chunk in drawn)
    corruption = draw(st.sampled_from(["none", "replace", "drop", "tail", "header"]))
    item = draw(st.sampled_from([document, document["outputs"][0], *document["inputs"]]))
    key = draw(st.sampled_from(sorted(item)))
    if corruption == "replace":
        item[key] = draw(JSON_VALUES)
    elif corruption == "drop":
        del item[key]
    head = json.dumps(document).encode()
    if corruption == "tail":
        tail = draw(st.binary(max_size=8)) + tail[draw(st.integers(0, 8)):]
    shift = draw(st.integers(-3, 3)) if corruption == "header" else 0
    return head + tail, (len(head) + shift if binary or shift else None)


def _parse_or_refuse(body: bytes, header_length: int | None) -> None:
    """Parse; only CodecError (with a message) may escape parse_request, anything else fails the test."""
    try:
        outcome: InferRequest | CodecError = parse_request(body, header_length, max_elements=1000)
    except CodecError as exc:
        outcome = exc
    assert outcome.inputs if isinstance(outcome, InferRequest) else outcome.message


@FUZZ
@given(body=st.binary(max_size=300), header_length=st.none() | st.integers(-2, 310))
def test_random_bytes_are_parsed_or_refused(body: bytes, header_length: int | None) -> None:
    _parse_or_refuse(body, header_length)


@FUZZ
@given(document=JSON_VALUES)
def test_random_json_is_parsed_or_refused(document: Any) -> None:
    _parse_or_refuse(json.dumps(document).encode(), None)


@FUZZ
@given(request=_near_valid_requests())
def test_near_valid_requests_are_parsed_or_refused(request: tuple[bytes, int | None]) -> None:
    _parse_or_refuse(*request)


# --- round trips: any finite tensor, through tritonclient -----------------------------------------------------


def _arrays(datatype: str) -> st.SearchStrategy[np.ndarray]:
    return hnp.arrays(NUMERIC[datatype], hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=4),
                      elements={"allow_nan": False, "allow_infinity": False} if datatype.startswith("FP") else None)


@st.composite
def _tensors(draw: st.DrawFn) -> tuple[str, np.ndarray]:
    datatype = draw(st.sampled_from(list(NUMERIC)))
    return datatype, draw(_arrays(datatype))


@FUZZ
@given(tensor=_tensors(), binary=st.booleans())
def test_any_finite_tensor_from_tritonclient_comes_back_exactly(tensor: tuple[str, np.ndarray], binary: bool) -> None:
    datatype, array = tensor
    body, json_size = _triton_body([_triton_input("x", array, datatype, binary)])
    np.testing.assert_array_equal(_only(parse_request(body, json_size)).data, array, strict=True)


@FUZZ
@given(tensor=_tensors(), raw=st.lists(st.binary(max_size=6), max_size=4), texts=st.lists(st.text(max_size=4),
       max_size=4), binary=st.booleans())
def test_any_finite_output_reaches_tritonclient_exactly(tensor: tuple[str, np.ndarray], raw: list[bytes],
                                                        texts: list[str], binary: bool) -> None:
    datatype, array = tensor
    outputs = [Tensor("x", datatype, array.shape, array), Tensor("raw", "BYTES", (len(raw),), raw),
               Tensor("text", "BYTES", (len(texts),), [text.encode() for text in texts])]
    body, headers = encode_response("m", None, None, outputs, {"x", "raw"} if binary else {"raw"})
    result = triton.InferResult.from_response_body(body, verbose=False, header_length=int(headers[HEADER_LENGTH]))
    np.testing.assert_array_equal(result.as_numpy("x"), array, strict=True)
    assert result.as_numpy("raw").tolist() == raw
    assert result.as_numpy("text").tolist() == texts  # JSON BYTES come back to tritonclient as str
