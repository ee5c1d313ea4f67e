"""An input tensor's elements, from JSON values or from binary data, checked against its datatype."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from serving.gateway.v2codec.model import _LENGTH, DTYPES, CodecError
from serving.gateway.v2codec.text import _describe, _preview


def _json_data(item: dict[str, Any], datatype: str, count: int, where: str) -> npt.NDArray[Any] | list[bytes]:
    if "data" not in item:
        raise CodecError(f"{where} has no 'data' and no binary_data_size parameter")
    values = _flatten(item["data"], where)
    if len(values) != count:
        raise CodecError(f"{where}: shape {list(item['shape'])} needs {count} elements, 'data' has {len(values)}")
    return _json_bytes(values, where) if datatype == "BYTES" else _json_numbers(values, datatype, where)


def _binary_data(chunk: bytes, datatype: str, count: int, where: str,
                 sized: str = "binary_data_size is") -> npt.NDArray[Any] | list[bytes]:
    """`sized` names where the chunk's size came from, in the size error (REST's parameter, gRPC's raw entry)."""
    if datatype == "BYTES":
        return _binary_bytes(chunk, count, where)
    return _binary_numbers(chunk, datatype, count, where, sized)


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


def _binary_numbers(chunk: bytes, datatype: str, count: int, where: str, sized: str) -> npt.NDArray[Any]:
    dtype = DTYPES[datatype]
    if len(chunk) != count * dtype.itemsize:
        raise CodecError(f"{where}: {count} {datatype} elements need {count * dtype.itemsize} bytes of binary "
                         f"data, {sized} {len(chunk)}")
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
