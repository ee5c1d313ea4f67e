"""The codec's vocabulary: wire constants, the datatype table, its two errors and the decoded types."""

from __future__ import annotations

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
