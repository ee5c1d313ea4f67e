"""Requests whose fields a wire format has already split (gRPC's protobuf messages): each input's header and
elements checked exactly as the JSON path checks them, into the same `InferRequest`.

    request = build_request("42", [InputFields("x", "FP32", [1, 2], {}, raw=b"\\0" * 8)], {}, [])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from serving.gateway.v2codec.elements import _binary_data, _json_numbers
from serving.gateway.v2codec.model import _SHARED_MEMORY, CodecError, InferRequest, RequestedOutput, Tensor
from serving.gateway.v2codec.request import _counted, _input_header, _optional_object, _requested_output


@dataclass(frozen=True)
class InputFields:
    """One input as the wire gave it: `raw` (the element bytes, laid out as the binary extension's) or `values`
    (typed elements: numbers, booleans or bytes), never both. `shape` is unchecked (it may hold negatives)."""

    name: str
    datatype: str
    shape: Sequence[int]
    parameters: dict[str, Any]
    raw: bytes | None = None
    values: Sequence[Any] | None = None


def build_request(request_id: str | None, inputs: Sequence[InputFields], parameters: dict[str, Any],
                  outputs: Sequence[tuple[str, dict[str, Any]]], *, max_elements: int = 1_000_000,
                  raw_name: str = "raw contents") -> InferRequest:
    """The request, or CodecError for anything that `parse_request` would refuse in its JSON form too.

    `outputs` are the requested outputs' names and parameters; `raw_name` names the raw field in messages.
    """
    if not inputs:
        raise CodecError("'inputs' is empty; a request needs at least one input tensor")
    tensors: list[Tensor] = []
    total = 0
    for index, fields in enumerate(inputs):
        header = {"name": fields.name, "datatype": fields.datatype, "shape": list(fields.shape)}
        name, datatype, shape = _input_header(header, index)
        total = _counted(tensors, name, shape, total, max_elements)
        tensors.append(_tensor(fields, name, datatype, shape, raw_name))
    requested: list[RequestedOutput] = []
    for name, output_parameters in outputs:
        if not name:
            raise CodecError(f"outputs[{len(requested)}] needs a 'name' (a non-empty string)")
        requested.append(_requested_output(requested, {"name": name, "parameters": output_parameters}, True))
    return InferRequest(request_id or None, tensors, parameters, requested, True)


def _tensor(fields: InputFields, name: str, datatype: str, shape: tuple[int, ...], raw_name: str) -> Tensor:
    where = f"input {name!r}"
    parameters = _optional_object({"parameters": fields.parameters}, "parameters", where, (_SHARED_MEMORY,))
    count = math.prod(shape)
    if fields.raw is not None:
        data = _binary_data(fields.raw, datatype, count, where, f"its {raw_name} hold")
    elif fields.values is None:
        raise CodecError(f"{where} has no elements: send them in {raw_name} or as typed contents")
    elif len(fields.values) != count:
        raise CodecError(f"{where}: shape {list(shape)} needs {count} elements, its contents hold "
                         f"{len(fields.values)}")
    elif datatype == "BYTES":
        data = [bytes(value) for value in fields.values]
    else:
        data = _json_numbers(list(fields.values), datatype, where)
    if not isinstance(data, list):
        data = data.reshape(shape)
    return Tensor(name, datatype, shape, data, parameters, binary=True)
