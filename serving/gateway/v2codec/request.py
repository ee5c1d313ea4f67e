"""Request decoding: the body's JSON document checked field by field into an `InferRequest`."""

from __future__ import annotations

import base64
import binascii
import math
from typing import Any

import numpy.typing as npt

from serving.gateway.v2codec.body import _Chunks, _load_json, _split
from serving.gateway.v2codec.elements import _binary_data, _json_data
from serving.gateway.v2codec.model import (
    _CLASSIFICATION,
    _SHARED_MEMORY,
    BINARY_DATA_SIZE,
    DTYPES,
    HEADER_LENGTH,
    MAX_DIMS,
    CodecError,
    InferRequest,
    RequestedOutput,
    Tensor,
)
from serving.gateway.v2codec.text import _amount, _describe, _preview

MAX_LENGTH_DIGITS = 18  # a byte count below 10**18: int64-safe, and far past any body the gateway takes


def parse_header_length(value: str | None) -> int | None:
    """The `Inference-Header-Content-Length` header as a number (None when absent): ASCII digits, as HTTP's
    Content-Length, with the optional spaces and tabs HTTP allows around a value. Any other value, whatever its
    characters (headers arrive latin-1 decoded), is a CodecError: no sign, no Unicode digit or space `int()`
    would take, and at most 18 digits (no body is that long; a longer run is refused before `int()` sees it)."""
    if value is None:
        return None
    digits = value.strip(" \t")
    if not (digits.isascii() and digits.isdigit()):
        raise CodecError(f"{HEADER_LENGTH} must be a non-negative integer, got {_preview(value)}")
    if len(digits) > MAX_LENGTH_DIGITS:
        raise CodecError(f"{HEADER_LENGTH} must be a number of at most {MAX_LENGTH_DIGITS} digits, "
                         f"got {len(digits)} digits")
    return int(digits)


def parse_request(body: bytes, header_length: int | None, *, max_elements: int = 1_000_000) -> InferRequest:
    """Decode an inference request: the whole body is JSON, or its first `header_length` bytes are.

    Raises CodecError, and only CodecError, for any body that is not a valid request, including one whose
    inputs hold more than `max_elements` elements in all.
    """
    json_part, chunks = _split(body, header_length)
    request = _load_json(json_part)
    parameters = _optional_object(request, "parameters", "the request")
    binary_default = parameters.get("binary_data_output", False)
    if not isinstance(binary_default, bool):
        raise CodecError(f"the request parameter 'binary_data_output' must be true or false, "
                         f"got {_describe(binary_default)}")
    request_id = request.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise CodecError(f"the request 'id' must be a string, got {_describe(request_id)}")
    inputs = _inputs(request, chunks, max_elements)
    chunks.finish()
    return InferRequest(request_id, inputs, parameters, _requested_outputs(request, binary_default), binary_default)


def decode_base64(value: bytes, name: str) -> bytes:
    """The bytes a base64 BYTES element stands for (line breaks and a `data:...;base64,` prefix allowed)."""
    if value.startswith(b"data:") and b";base64," in value:
        value = value.split(b";base64,", 1)[1]
    try:
        return base64.b64decode(b"".join(value.split()), validate=True)
    except (binascii.Error, ValueError):
        raise CodecError(f"input {name!r} is not valid base64; BYTES sent in JSON for this input must be "
                         "base64-encoded (or send the raw bytes as binary data)") from None


def _optional_object(container: dict[str, Any], key: str, where: str,
                     refused: tuple[tuple[str, str], ...] = ()) -> dict[str, Any]:
    value = container.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise CodecError(f"{where}: {key!r} must be an object, got {_describe(value)}")
    for name, what in refused:
        if name in value:
            raise CodecError(f"{where} uses {what} ({name!r}), which this server does not support")
    return value


def _inputs(request: dict[str, Any], chunks: _Chunks, max_elements: int) -> list[Tensor]:
    items = request.get("inputs")
    if items is None:
        raise CodecError("the request has no 'inputs'")
    if not isinstance(items, list):
        raise CodecError(f"'inputs' must be a list of tensors, got {_describe(items)}")
    if not items:
        raise CodecError("'inputs' is empty; a request needs at least one input tensor")
    tensors: list[Tensor] = []
    total = 0
    for index, item in enumerate(items):
        name, datatype, shape = _input_header(item, index)
        total = _counted(tensors, name, shape, total, max_elements)
        tensors.append(_input_tensor(item, name, datatype, shape, chunks))
    return tensors


def _counted(tensors: list[Tensor], name: str, shape: tuple[int, ...], total: int, max_elements: int) -> int:
    """The request's element count with this input's; CodecError for a repeated name or one over the budget."""
    if any(tensor.name == name for tensor in tensors):
        raise CodecError(f"input {name!r} appears more than once")
    total += math.prod(shape)
    if total > max_elements:
        raise CodecError(f"input {name!r} with shape {list(shape)} brings the request to {_amount(total)} "
                         f"elements; at most {max_elements} are allowed")
    # An empty tensor's other sides are bounded too: numpy cannot even shape an empty array with sides past
    # its address space, and no side of a request can be larger than the whole request may be.
    sides = math.prod(dim for dim in shape if dim)
    if sides > max_elements:
        raise CodecError(f"input {name!r} has shape {_preview(list(shape))}, whose non-zero sides make "
                         f"{_amount(sides)} elements; at most {max_elements} are allowed")
    return total


def _input_header(item: Any, index: int) -> tuple[str, str, tuple[int, ...]]:
    if not isinstance(item, dict):
        raise CodecError(f"inputs[{index}] must be an object, got {_describe(item)}")
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise CodecError(f"inputs[{index}] needs a 'name' (a non-empty string), got {_describe(name)}")
    for key in ("shape", "datatype"):
        if key not in item:
            raise CodecError(f"input {name!r} has no {key!r}")
    datatype = item["datatype"]
    if not isinstance(datatype, str) or datatype not in DTYPES:
        raise CodecError(f"input {name!r} has datatype {_preview(datatype)}; supported: {', '.join(DTYPES)}")
    return name, datatype, _shape(item["shape"], f"input {name!r}")


def _shape(value: Any, where: str) -> tuple[int, ...]:
    if not isinstance(value, list) or len(value) > MAX_DIMS:
        raise CodecError(f"{where}: 'shape' must be a list of at most {MAX_DIMS} non-negative integers, "
                         f"got {_describe(value)}")
    for dim in value:
        if type(dim) is not int or dim < 0:
            raise CodecError(f"{where}: shape {_preview(value)} must hold non-negative integers, "
                             f"not {_describe(dim)} (a request's shape is concrete: no -1)")
    return tuple(value)


def _input_tensor(item: dict[str, Any], name: str, datatype: str, shape: tuple[int, ...],
                  chunks: _Chunks) -> Tensor:
    where = f"input {name!r}"
    parameters = _optional_object(item, "parameters", where, (_SHARED_MEMORY,))
    if BINARY_DATA_SIZE not in parameters:
        data = _json_data(item, datatype, math.prod(shape), where)
        return Tensor(name, datatype, shape, _reshaped(data, shape), parameters, binary=False)
    chunk = chunks.take(_binary_data_size(item, parameters, where), where)
    data = _binary_data(chunk, datatype, math.prod(shape), where)
    rest = {key: value for key, value in parameters.items() if key != BINARY_DATA_SIZE}
    return Tensor(name, datatype, shape, _reshaped(data, shape), rest, binary=True)


def _binary_data_size(item: dict[str, Any], parameters: dict[str, Any], where: str) -> int:
    size = parameters[BINARY_DATA_SIZE]
    if type(size) is not int or size < 0:
        raise CodecError(f"{where}: binary_data_size must be a non-negative integer, got {_describe(size)}")
    if "data" in item:
        raise CodecError(f"{where} has both 'data' and a binary_data_size parameter; send one or the other")
    return size


def _reshaped(data: npt.NDArray[Any] | list[bytes], shape: tuple[int, ...]) -> npt.NDArray[Any] | list[bytes]:
    return data if isinstance(data, list) else data.reshape(shape)


def _requested_outputs(request: dict[str, Any], binary_default: bool) -> list[RequestedOutput]:
    items = request.get("outputs")
    if items is None:
        return []
    if not isinstance(items, list):
        raise CodecError(f"'outputs' must be a list of objects, got {_describe(items)}")
    outputs: list[RequestedOutput] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
            raise CodecError(f"outputs[{index}] must be an object with a 'name' (a non-empty string)")
        outputs.append(_requested_output(outputs, item, binary_default))
    return outputs


def _requested_output(outputs: list[RequestedOutput], item: dict[str, Any], binary_default: bool) -> RequestedOutput:
    where = f"requested output {item['name']!r}"
    if any(output.name == item["name"] for output in outputs):
        raise CodecError(f"{where} appears more than once")
    parameters = _optional_object(item, "parameters", where, (_SHARED_MEMORY, _CLASSIFICATION))
    binary = parameters.get("binary_data", binary_default)
    if not isinstance(binary, bool):
        raise CodecError(f"{where}: 'binary_data' must be true or false, got {_describe(binary)}")
    return RequestedOutput(item["name"], binary)
