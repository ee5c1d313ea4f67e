"""What the v2 codec test modules share: the numeric datatypes, the request bodies tritonclient writes, JSON
request bodies written by hand, and a request's only input. A helper module, not a test module."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import tritonclient.http as triton
from tritonclient.http import _utils as triton_utils

from serving.gateway.v2codec import InferRequest, Tensor

NUMERIC = {"BOOL": np.bool_, "UINT8": np.uint8, "INT8": np.int8, "INT16": np.int16, "INT32": np.int32,
           "INT64": np.int64, "FP16": np.float16, "FP32": np.float32, "FP64": np.float64}


def _triton_input(name: str, array: np.ndarray, datatype: str, binary: bool) -> triton.InferInput:
    tensor = triton.InferInput(name, list(array.shape), datatype)
    tensor.set_data_from_numpy(array, binary_data=binary)
    return tensor


def _triton_body(inputs: list[triton.InferInput], outputs: list[triton.InferRequestedOutput] | None = None,
                 request_id: str = "", **kwargs: Any) -> tuple[bytes, int | None]:
    """The body (and Inference-Header-Content-Length) tritonclient's InferenceServerClient.infer sends."""
    arguments: dict[str, Any] = {"sequence_id": 0, "sequence_start": False, "sequence_end": False, "priority": 0,
                                 "timeout": None, "custom_parameters": None} | kwargs
    body, json_size = triton_utils._get_inference_request(inputs=inputs, request_id=request_id, outputs=outputs,
                                                          **arguments)
    return body, json_size


def _only(request: InferRequest) -> Tensor:
    assert len(request.inputs) == 1
    return request.inputs[0]


def _body(document: Any) -> bytes:
    return json.dumps(document).encode()


def _request(inputs: list[dict[str, Any]], **fields: Any) -> bytes:
    return _body({"inputs": inputs, **fields})


def _fp32(data: Any, shape: list[Any] | None = None, **fields: Any) -> dict[str, Any]:
    return {"name": "x", "shape": [len(data)] if shape is None else shape, "datatype": "FP32", "data": data, **fields}
