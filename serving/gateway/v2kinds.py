"""The Open Inference Protocol's tensor contract per model kind, and its translation to and from the
handlers' JSON. Shapes come from each model's signature; the table is the one in docs/gateway.md."""

import base64
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from serving.gateway.catalog import ModelEntry
from serving.gateway.errors import InvalidInput
from serving.gateway.v2codec import CodecError, InferRequest, Tensor, decode_base64

NUMERIC = {"BOOL", "UINT8", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64"}
INTEGER = {"UINT8", "INT8", "INT16", "INT32", "INT64"}
GENERATION_PARAMETERS = ("max_new_tokens", "temperature", "top_k", "seed")


@dataclass(frozen=True)
class TensorSpec:
    """An input or output of the v2 contract."""

    name: str
    datatype: str
    shape: list[int]

    def as_metadata(self) -> dict[str, Any]:
        """The metadata form: name, datatype, shape."""
        return {"name": self.name, "datatype": self.datatype, "shape": self.shape}


def contract(entry: ModelEntry) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """(inputs, outputs) of a model's kind, sized from its signature."""
    sig, kind = entry.signature, entry.kind
    if kind in ("regression", "tabular-classification"):
        inputs = [TensorSpec("features", "FP32", [-1, int(sig["inputs"][0]["shape"][1])])]
        if kind == "regression":
            return inputs, [TensorSpec("prediction", "FP32", [-1])]
        return inputs, _labelled(sig)
    if kind == "image-classification":
        return [TensorSpec("image", "BYTES", [-1])], _labelled(sig)
    if kind == "text-generation":
        return [TensorSpec("prompt", "BYTES", [-1])], [TensorSpec("text", "BYTES", [-1])]
    if kind == "image-generation":
        return [TensorSpec("digit", "INT64", [-1])], [TensorSpec("image", "BYTES", [-1])]
    if kind == "policy":
        inputs = [TensorSpec("observation", "FP32", [-1, int(sig["inputs"][0]["shape"][1])])]
        return inputs, [TensorSpec("action", "INT64", [-1]), TensorSpec("q_values", "FP32", [-1, len(sig["actions"])])]
    raise ValueError(f"no v2 contract for kind {kind!r}")


def example_infer(entry: ModelEntry) -> dict[str, Any]:
    """A valid v2 inference request for this model: its v1 example as one tensor (for the docs and load tests)."""
    spec = contract(entry)[0][0]
    value = next(iter(entry.example().values()))
    data = value if isinstance(value, list) else [value]
    shape = [1, len(data)] if len(spec.shape) == 2 else [len(data)]
    return {"inputs": [{"name": spec.name, "datatype": spec.datatype, "shape": shape, "data": data}]}


def _labelled(sig: dict[str, Any]) -> list[TensorSpec]:
    return [TensorSpec("label", "BYTES", [-1]), TensorSpec("probabilities", "FP32", [-1, len(sig["labels"])])]


def handler_requests(entry: ModelEntry, request: InferRequest) -> list[dict[str, Any]]:
    """The handler JSON bodies that answer the request (several for text, which the handler takes singly)."""
    inputs, _ = contract(entry)
    tensor = _input(request, inputs[0])
    kind, params = entry.kind, {**request.parameters, **tensor.parameters}
    if kind in ("regression", "tabular-classification", "policy"):
        return [{inputs[0].name: _rows(tensor, inputs[0]).tolist()}]
    if kind == "image-classification":
        images = [item if tensor.binary else _base64_image(item) for item in _items(tensor)]
        return [{"image": [base64.b64encode(image).decode() for image in images]}]
    if kind == "text-generation":
        options = {k: params[k] for k in GENERATION_PARAMETERS if k in params}
        return [{"prompt": _text(item), **options} for item in _items(tensor)]
    digits = np.asarray(tensor.data).reshape(-1)
    if not digits.size:
        raise InvalidInput("input 'digit' is empty")
    return [{"digit": [int(d) for d in digits], "count": 1,
             **({"seed": params["seed"]} if "seed" in params else {})}]


def outputs_from(entry: ModelEntry, answers: list[dict[str, Any]]) -> list[Tensor]:
    """The v2 output tensors built from the handler's answers (BYTES as raw bytes; the codec encodes)."""
    kind = entry.kind
    if kind == "regression":
        return [_tensor("prediction", "FP32", np.asarray(answers[0]["prediction"], dtype=np.float32))]
    if kind in ("tabular-classification", "image-classification"):
        body = answers[0]
        return [_bytes("label", [str(label).encode() for label in body["label"]]),
                _tensor("probabilities", "FP32", np.asarray(body["probabilities"], dtype=np.float32))]
    if kind == "text-generation":
        return [_bytes("text", [str(answer["text"]).encode() for answer in answers])]
    if kind == "image-generation":
        return [_bytes("image", [base64.b64decode(image) for image in answers[0]["images"]])]
    body = answers[0]
    return [_tensor("action", "INT64", np.asarray(body["action"], dtype=np.int64)),
            _tensor("q_values", "FP32", np.asarray(body["q_values"], dtype=np.float32))]


def encode_json(body: dict[str, Any]) -> bytes:
    """Compact JSON for the handler."""
    return json.dumps(body, separators=(",", ":")).encode()


def _input(request: InferRequest, spec: TensorSpec) -> Tensor:
    names = [t.name for t in request.inputs]
    if names != [spec.name]:
        raise InvalidInput(f"this model takes one input named '{spec.name}' ({spec.datatype} {spec.shape}); "
                           f"got {names}")
    tensor = request.inputs[0]
    if spec.datatype == "BYTES" and tensor.datatype != "BYTES":
        raise InvalidInput(f"input '{spec.name}' must be BYTES, got {tensor.datatype}")
    if spec.datatype != "BYTES" and tensor.datatype not in NUMERIC:
        raise InvalidInput(f"input '{spec.name}' must be numeric ({spec.datatype}), got {tensor.datatype}")
    if spec.datatype == "INT64" and tensor.datatype not in INTEGER:
        raise InvalidInput(f"input '{spec.name}' must be an integer tensor (INT64), got {tensor.datatype}")
    if len(tensor.shape) != len(spec.shape) or any(
        w not in (-1, s) for w, s in zip(spec.shape, tensor.shape, strict=False)
    ):
        raise InvalidInput(f"input '{spec.name}' must have shape {spec.shape} (-1: any), got {list(tensor.shape)}")
    if tensor.shape[0] == 0:
        raise InvalidInput(f"input '{spec.name}' is empty")
    return tensor


def _rows(tensor: Tensor, spec: TensorSpec) -> np.ndarray:
    rows = np.asarray(tensor.data, dtype=np.float64).reshape(tensor.shape)
    if not np.isfinite(rows).all():
        raise InvalidInput(f"input '{spec.name}' must hold finite numbers")
    return rows


def _items(tensor: Tensor) -> list[bytes]:
    items = list(tensor.data) if isinstance(tensor.data, list) else []
    if not all(isinstance(item, bytes) for item in items):
        raise InvalidInput(f"input '{tensor.name}' must hold BYTES elements")
    return items


def _base64_image(item: bytes) -> bytes:
    # Decoded here, after parsing, so the codec's error must become the gateway's 400 here too.
    try:
        return decode_base64(item, "image")
    except CodecError as exc:
        raise InvalidInput(exc.message) from None


def _text(item: bytes) -> str:
    try:
        return item.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("a prompt must be UTF-8 text") from None


def _tensor(name: str, datatype: str, data: np.ndarray) -> Tensor:
    return Tensor(name, datatype, tuple(data.shape), data, {}, False)


def _bytes(name: str, items: list[bytes]) -> Tensor:
    return Tensor(name, "BYTES", (len(items),), items, {}, False)
