"""The Open Inference Protocol v2 REST codec, with Triton's binary tensor data extension: request bytes in,
an `InferRequest` out; output tensors back to a response body and its headers.

Pure (no web framework, no I/O). Bad client input raises `CodecError`, whose message is meant for a 400 body;
an output the codec cannot encode raises `OutputError`, a server fault (500).

    request = parse_request(body, parse_header_length(headers.get("inference-header-content-length")))
    body, extra_headers = encode_response("mnist", "1", request.id, outputs,
                                          request.binary_names(t.name for t in outputs))

Wire format: the body is a JSON object; with the binary extension the `Inference-Header-Content-Length` header
gives the JSON's length in bytes and raw tensor data follows it, one chunk per tensor that carries
`"parameters": {"binary_data_size": N}`, in tensor order. Numbers are little-endian, BOOL one byte (0 or 1),
BYTES each element as a 4-byte little-endian length and its bytes.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

HEADER_LENGTH = "Inference-Header-Content-Length"
MAX_JSON_DEPTH = 32  # containers nested in the JSON part, the request object included (as handlers/wire.py)
MAX_DIMS = 32
BINARY_DATA_SIZE = "binary_data_size"
DTYPES: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype(np.bool_), "UINT8": np.dtype(np.uint8), "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16), "INT32": np.dtype(np.int32), "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16), "FP32": np.dtype(np.float32), "FP64": np.dtype(np.float64),
    "BYTES": np.dtype(np.object_),
}
_SHARED_MEMORY = ("shared_memory_region", "the shared memory extension")
_CLASSIFICATION = ("classification", "the classification extension")
_LENGTH = struct.Struct("<I")


class CodecError(ValueError):
    """A request that does not follow the protocol; `message` is client-facing (HTTP 400)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class OutputError(ValueError):
    """An output tensor the codec cannot encode: a fault of the server, not of the client (HTTP 500)."""


@dataclass(frozen=True, eq=False)  # eq=False: `==` on numpy data is ambiguous
class Tensor:
    """One tensor. `data` is an array of `shape` for numeric types, a flat row-major list of bytes for BYTES.

    `binary` tells whether a request input came as binary data: BYTES sent in JSON are UTF-8 text, which
    may be base64 (see `decode_base64`); BYTES sent as binary are the raw bytes. `parameters` never holds
    `binary_data_size`. For outputs, `encode_response`'s `binary` set decides and this field is ignored.
    """

    name: str
    datatype: str
    shape: tuple[int, ...]
    data: npt.NDArray[Any] | list[bytes]
    parameters: dict[str, Any] = field(default_factory=dict)
    binary: bool = False


@dataclass(frozen=True)
class RequestedOutput:
    """An output the client asked for, and whether it wants it as binary data."""

    name: str
    binary: bool


@dataclass(frozen=True, eq=False)
class InferRequest:
    """A decoded inference request. Numeric inputs hold no NaN or infinity."""

    id: str | None
    inputs: list[Tensor]
    parameters: dict[str, Any]
    requested_outputs: list[RequestedOutput]
    binary_output_default: bool

    def binary_names(self, output_names: Iterable[str]) -> set[str]:
        """The outputs to send as binary: a requested output's own choice, else `binary_data_output`."""
        chosen = {output.name: output.binary for output in self.requested_outputs}
        return {name for name in output_names if chosen.get(name, self.binary_output_default)}


def parse_header_length(value: str | None) -> int | None:
    """The `Inference-Header-Content-Length` header as a number (None when absent)."""
    if value is None:
        return None
    digits = value.strip()
    if not (digits.isascii() and digits.isdigit() and len(digits) <= 18):
        raise CodecError(f"{HEADER_LENGTH} must be a non-negative integer, got {_preview(value)}")
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


def encode_response(model_name: str, model_version: str | None, request_id: str | None, outputs: list[Tensor],
                    binary: set[str]) -> tuple[bytes, dict[str, str]]:
    """The response body and its headers; the outputs named in `binary` follow the JSON as binary data."""
    _check_output_names(outputs, binary)
    header: dict[str, Any] = {"model_name": model_name}
    if model_version is not None:
        header["model_version"] = model_version
    if request_id is not None:
        header["id"] = request_id
    entries, chunks = [], []
    for tensor in outputs:
        entry: dict[str, Any] = {"name": tensor.name, "datatype": tensor.datatype, "shape": list(tensor.shape)}
        parameters = {k: v for k, v in tensor.parameters.items() if k != BINARY_DATA_SIZE}
        if tensor.name in binary:
            chunks.append(_output_bytes(tensor))
            parameters[BINARY_DATA_SIZE] = len(chunks[-1])
        else:
            entry["data"] = _output_json(tensor)
        if parameters:
            entry["parameters"] = parameters
        entries.append(entry)
    header["outputs"] = entries
    try:
        text = json.dumps(header, separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise OutputError(f"the response cannot be written as JSON: {exc}") from None
    if not binary:
        return text, {"Content-Type": "application/json"}
    return text + b"".join(chunks), {HEADER_LENGTH: str(len(text)), "Content-Type": "application/octet-stream"}


class _Chunks:
    """The binary part of a request body, handed out to the inputs in order."""

    def __init__(self, data: bytes, allowed: bool) -> None:
        self._data, self._offset, self._allowed = data, 0, allowed

    def take(self, size: int, where: str) -> bytes:
        if not self._allowed:
            raise CodecError(f"{where} has a binary_data_size but the request has no {HEADER_LENGTH} header")
        left = len(self._data) - self._offset
        if size > left:
            raise CodecError(f"{where} has binary_data_size {size} but only {left} bytes of binary data remain")
        self._offset += size
        return self._data[self._offset - size:self._offset]

    def finish(self) -> None:
        left = len(self._data) - self._offset
        if left:
            raise CodecError(f"{left} bytes of binary data follow the JSON that no input's binary_data_size "
                             "accounts for")


def _split(body: bytes, header_length: int | None) -> tuple[bytes, _Chunks]:
    if header_length is None:
        return body, _Chunks(b"", allowed=False)
    if header_length < 0 or header_length > len(body):
        raise CodecError(f"{HEADER_LENGTH} is {header_length} but the body has {len(body)} bytes")
    return body[:header_length], _Chunks(body[header_length:], allowed=True)


def _load_json(data: bytes) -> dict[str, Any]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CodecError(f"the request JSON is not valid UTF-8 (byte {exc.start})") from None
    try:
        document = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise CodecError(f"the request JSON is nested deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError as exc:  # JSONDecodeError, and integers over Python's digit limit
        raise CodecError(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise CodecError(f"the request body must be a JSON object, got {_describe(document)}")
    if _too_deep(document):
        raise CodecError(f"the request JSON is nested deeper than {MAX_JSON_DEPTH} levels")
    return document


def _reject_constant(name: str) -> Any:
    raise CodecError(f"the request JSON holds {name}, which is not JSON (numbers must be finite)")


def _too_deep(document: Any) -> bool:
    """Whether containers nest deeper than MAX_JSON_DEPTH (iterative: no recursion limit to hit)."""
    stack = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return True
        children = value.values() if isinstance(value, dict) else value
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


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
        if any(tensor.name == name for tensor in tensors):
            raise CodecError(f"input {name!r} appears more than once")
        total += math.prod(shape)
        if total > max_elements:
            raise CodecError(f"input {name!r} with shape {list(shape)} brings the request to {_amount(total)} "
                             f"elements; at most {max_elements} are allowed")
        tensors.append(_input_tensor(item, name, datatype, shape, chunks))
    return tensors


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


def _json_data(item: dict[str, Any], datatype: str, count: int, where: str) -> npt.NDArray[Any] | list[bytes]:
    if "data" not in item:
        raise CodecError(f"{where} has no 'data' and no binary_data_size parameter")
    values = _flatten(item["data"], where)
    if len(values) != count:
        raise CodecError(f"{where}: shape {list(item['shape'])} needs {count} elements, 'data' has {len(values)}")
    return _json_bytes(values, where) if datatype == "BYTES" else _json_numbers(values, datatype, where)


def _binary_data_size(item: dict[str, Any], parameters: dict[str, Any], where: str) -> int:
    size = parameters[BINARY_DATA_SIZE]
    if type(size) is not int or size < 0:
        raise CodecError(f"{where}: binary_data_size must be a non-negative integer, got {_describe(size)}")
    if "data" in item:
        raise CodecError(f"{where} has both 'data' and a binary_data_size parameter; send one or the other")
    return size


def _binary_data(chunk: bytes, datatype: str, count: int, where: str) -> npt.NDArray[Any] | list[bytes]:
    return _binary_bytes(chunk, count, where) if datatype == "BYTES" else _binary_numbers(chunk, datatype, count,
                                                                                            where)


def _reshaped(data: npt.NDArray[Any] | list[bytes], shape: tuple[int, ...]) -> npt.NDArray[Any] | list[bytes]:
    return data if isinstance(data, list) else data.reshape(shape)


def _flatten(data: Any, where: str) -> list[Any]:
    """Row-major elements of flat or nested `data`, which must be rectangular."""
    if not isinstance(data, list):
        raise CodecError(f"{where}: 'data' must be a list, got {_describe(data)}")
    level: list[Any] = [data]
    while any(isinstance(value, list) for value in level):
        if not all(isinstance(value, list) for value in level) or len({len(value) for value in level}) > 1:
            raise CodecError(f"{where}: nested 'data' is not rectangular (its lists differ in length or depth)")
        level = [value for values in level for value in values]
    return level


def _json_bytes(values: list[Any], where: str) -> list[bytes]:
    if not set(map(type, values)) <= {str}:
        index = next(i for i, value in enumerate(values) if type(value) is not str)
        raise CodecError(f"{where}: BYTES element {index} is {_describe(values[index])}; expected a string")
    try:
        return [value.encode("utf-8") for value in values]
    except UnicodeEncodeError:
        raise CodecError(f"{where}: a BYTES string is not valid Unicode (a lone surrogate escape)") from None


def _json_numbers(values: list[Any], datatype: str, where: str) -> npt.NDArray[Any]:
    dtype = DTYPES[datatype]
    allowed = {bool} if datatype == "BOOL" else {int, float}
    if not set(map(type, values)) <= allowed:
        index = next(i for i, value in enumerate(values) if type(value) not in allowed)
        expected = "true or false" if datatype == "BOOL" else "a number"
        raise CodecError(f"{where}: {datatype} element {index} is {_describe(values[index])}; expected {expected}")
    if dtype.kind == "f":
        return _json_floats(values, dtype, datatype, where)
    if dtype.kind in "iu":
        _check_integers(values, dtype, datatype, where)
    return np.array(values, dtype=dtype)


def _check_integers(values: list[Any], dtype: np.dtype[Any], datatype: str, where: str) -> None:
    for index, value in enumerate(values):
        if type(value) is float and not value.is_integer():
            raise CodecError(f"{where}: {datatype} element {index} ({_preview(value)}) is not an integer")
    info = np.iinfo(dtype)
    if values and (min(values) < info.min or max(values) > info.max):
        index = next(i for i, value in enumerate(values) if not info.min <= value <= info.max)
        raise CodecError(f"{where}: {datatype} element {index} ({_preview(values[index])}) is out of range "
                         f"[{info.min}, {info.max}]")


def _json_floats(values: list[Any], dtype: np.dtype[Any], datatype: str, where: str) -> npt.NDArray[Any]:
    try:
        with np.errstate(over="ignore"):
            array = np.array(values, dtype=np.float64).astype(dtype)
    except OverflowError:  # an integer beyond float64
        array = np.array([math.inf])
    if not np.isfinite(array).all():
        index = next(i for i, value in enumerate(values) if not _finite_as(value, dtype))
        raise CodecError(f"{where}: {datatype} element {index} ({_preview(values[index])}) is not a finite "
                         f"{datatype} number (at most {np.finfo(dtype).max} in size)")
    return array


def _finite_as(value: float, dtype: np.dtype[Any]) -> bool:
    try:
        with np.errstate(over="ignore"):
            return bool(np.isfinite(np.array([float(value)]).astype(dtype)).all())
    except OverflowError:
        return False


def _binary_numbers(chunk: bytes, datatype: str, count: int, where: str) -> npt.NDArray[Any]:
    dtype = DTYPES[datatype]
    if len(chunk) != count * dtype.itemsize:
        raise CodecError(f"{where}: {count} {datatype} elements need {count * dtype.itemsize} bytes of binary "
                         f"data, binary_data_size is {len(chunk)}")
    if datatype == "BOOL":
        raw = np.frombuffer(chunk, dtype=np.uint8)
        if raw.size and raw.max() > 1:
            raise CodecError(f"{where}: binary BOOL element {int(np.argmax(raw > 1))} is "
                             f"{int(raw.max())}; expected 0 or 1")
        return raw.astype(np.bool_)
    array = np.frombuffer(chunk, dtype=dtype.newbyteorder("<")).astype(dtype)  # a writable, native copy
    if dtype.kind == "f" and not np.isfinite(array).all():
        index = int(np.argmin(np.isfinite(array)))
        raise CodecError(f"{where}: binary {datatype} element {index} is {array[index]}; inputs must be finite")
    return array


def _binary_bytes(chunk: bytes, count: int, where: str) -> list[bytes]:
    elements: list[bytes] = []
    offset = 0
    while offset < len(chunk):
        if offset + _LENGTH.size > len(chunk):
            raise CodecError(f"{where}: binary BYTES element {len(elements)} has a cut-off 4-byte length")
        (length,) = _LENGTH.unpack_from(chunk, offset)
        offset += _LENGTH.size
        if offset + length > len(chunk):
            raise CodecError(f"{where}: binary BYTES element {len(elements)} says {length} bytes but only "
                             f"{len(chunk) - offset} remain in its binary_data_size")
        elements.append(chunk[offset:offset + length])
        offset += length
    if len(elements) != count:
        raise CodecError(f"{where}: its shape needs {count} BYTES elements, the binary data holds {len(elements)}")
    return elements


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
        where = f"requested output {item['name']!r}"
        if any(output.name == item["name"] for output in outputs):
            raise CodecError(f"{where} appears more than once")
        parameters = _optional_object(item, "parameters", where, (_SHARED_MEMORY, _CLASSIFICATION))
        binary = parameters.get("binary_data", binary_default)
        if not isinstance(binary, bool):
            raise CodecError(f"{where}: 'binary_data' must be true or false, got {_describe(binary)}")
        outputs.append(RequestedOutput(item["name"], binary))
    return outputs


def _check_output_names(outputs: list[Tensor], binary: set[str]) -> None:
    names = [tensor.name for tensor in outputs]
    if len(set(names)) != len(names):
        raise OutputError(f"output names repeat: {names}")
    if not binary <= set(names):
        raise OutputError(f"binary outputs {sorted(binary - set(names))} are not among the outputs {names}")


def _output_array(tensor: Tensor) -> npt.NDArray[Any]:
    dtype = DTYPES.get(tensor.datatype)
    if dtype is None or dtype.kind == "O":
        raise OutputError(f"output {tensor.name!r} has datatype {tensor.datatype!r}, which the codec does not "
                          "support")
    if not isinstance(tensor.data, np.ndarray) or tensor.data.dtype != dtype or tensor.data.shape != tensor.shape:
        raise OutputError(f"output {tensor.name!r} must be a {dtype} array of shape {tensor.shape}")
    return tensor.data


def _output_elements(tensor: Tensor) -> list[bytes]:
    elements = tensor.data.ravel().tolist() if isinstance(tensor.data, np.ndarray) else list(tensor.data)
    if len(elements) != math.prod(tensor.shape) or not all(isinstance(e, bytes) for e in elements):
        raise OutputError(f"output {tensor.name!r} must hold {math.prod(tensor.shape)} bytes elements")
    return elements


def _output_bytes(tensor: Tensor) -> bytes:
    if tensor.datatype == "BYTES":
        return b"".join(_LENGTH.pack(len(element)) + element for element in _output_elements(tensor))
    array = _output_array(tensor)
    return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()


def _output_json(tensor: Tensor) -> list[Any]:
    if tensor.datatype == "BYTES":
        try:
            return [element.decode("utf-8") for element in _output_elements(tensor)]
        except UnicodeDecodeError:
            raise OutputError(f"output {tensor.name!r} holds bytes that are not UTF-8; base64-encode them or "
                              "send the output as binary data") from None
    array = _output_array(tensor)
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise OutputError(f"output {tensor.name!r} holds NaN or infinity, which JSON cannot carry")
    values: list[Any] = array.ravel().tolist()
    return values


def _describe(value: Any) -> str:
    """A JSON value's kind, with a short preview, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return "an object" if isinstance(value, dict) else f"a list of {len(value)}"
    kind = "a string" if isinstance(value, str) else "the number"
    return f"{kind} {_preview(value)}"


def _amount(count: int) -> str:
    """A count for a message: products of shapes can exceed what `str(int)` will convert."""
    return str(count) if count.bit_length() <= 64 else "more than 2**64"


def _preview(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"
