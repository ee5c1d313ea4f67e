"""Response encoding: output tensors to a response body, as JSON or binary data, and its headers."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from serving.gateway.v2codec.model import _LENGTH, BINARY_DATA_SIZE, DTYPES, HEADER_LENGTH, OutputError, Tensor


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
    text = _header_json(header, any(tensor.parameters for tensor in outputs))
    if not binary:
        return text, {"Content-Type": "application/json"}
    return text + b"".join(chunks), {HEADER_LENGTH: str(len(text)), "Content-Type": "application/octet-stream"}


def _header_json(header: dict[str, Any], has_parameters: bool) -> bytes:
    # The data is checked finite above; only a tensor's own parameters could hold a NaN, which orjson would
    # write as null, so those answers take the stdlib's strict way.
    try:
        if not has_parameters:
            return orjson.dumps(header)
        return json.dumps(header, separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise OutputError(f"the response cannot be written as JSON: {exc}") from None


def encode_raw(tensor: Tensor) -> bytes:
    """An output's elements as the binary extension (and gRPC's raw_output_contents) lay them out."""
    return _output_bytes(tensor)


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
