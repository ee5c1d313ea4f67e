"""The Open Inference Protocol v2 REST codec, with Triton's binary tensor data extension: request bytes in,
an `InferRequest` out; output tensors back to a response body and its headers.

Pure (no web framework, no I/O). Bad client input raises `CodecError`, whose message is meant for a 400 body;
an output the codec cannot encode raises `OutputError`, a server fault (500).

    request = parse_request(body, parse_header_length(headers.get("inference-header-content-length")))
    body, extra_headers = encode_response("mnist", "1", request.id, outputs,
                                          request.binary_names(t.name for t in outputs))

gRPC's messages arrive split into fields already: `build_request` applies the same checks to them, and
`encode_raw` gives an output's raw contents.

Wire format: the body is a JSON object; with the binary extension the `Inference-Header-Content-Length` header
gives the JSON's length in bytes and raw tensor data follows it, one chunk per tensor that carries
`"parameters": {"binary_data_size": N}`, in tensor order. Numbers are little-endian, BOOL one byte (0 or 1),
BYTES each element as a 4-byte little-endian length and its bytes.
"""

from __future__ import annotations

from serving.gateway.v2codec.fields import InputFields, build_request
from serving.gateway.v2codec.model import (
    BINARY_DATA_SIZE,
    DTYPES,
    HEADER_LENGTH,
    MAX_DIMS,
    MAX_JSON_DEPTH,
    CodecError,
    InferRequest,
    OutputError,
    RequestedOutput,
    Tensor,
)
from serving.gateway.v2codec.request import decode_base64, parse_header_length, parse_request
from serving.gateway.v2codec.response import encode_raw, encode_response

__all__ = [
    "BINARY_DATA_SIZE",
    "DTYPES",
    "HEADER_LENGTH",
    "MAX_DIMS",
    "MAX_JSON_DEPTH",
    "CodecError",
    "InferRequest",
    "InputFields",
    "OutputError",
    "RequestedOutput",
    "Tensor",
    "build_request",
    "decode_base64",
    "encode_raw",
    "encode_response",
    "parse_header_length",
    "parse_request",
]
