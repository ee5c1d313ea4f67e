"""What every model kind is made of: its v1 media types and example, its Open Inference Protocol v2 tensor
contract, and the translation between v2 tensors and its handler's JSON. One subclass per kind, one file each
in this folder; shapes come from each model's signature (the table is the one in docs/gateway.md)."""

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import orjson

from handlers import HANDLERS
from serving.gateway.core.errors import InvalidInput
from serving.gateway.v2codec import InferRequest, Tensor

NUMERIC = {"BOOL", "UINT8", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64"}
INTEGER = {"UINT8", "INT8", "INT16", "INT32", "INT64"}

Signature = dict[str, Any]


@dataclass(frozen=True)
class TensorSpec:
    """An input or output of the v2 contract."""

    name: str
    datatype: str
    shape: list[int]

    def as_metadata(self) -> dict[str, Any]:
        """The metadata form: name, datatype, shape."""
        return {"name": self.name, "datatype": self.datatype, "shape": self.shape}


class ModelKind(ABC):
    """One kind of model (the `kind` of signature.json): everything the gateway must know to serve it.

    The handler that serves the kind inside TorchServe is the one fact kept elsewhere: `handlers.HANDLERS`,
    because a .mar runs in a stock TorchServe and its handlers may not import this package. `handler` reads it
    from there, and the registry (serving/gateway/core/kinds/__init__.py) refuses to start unless both name the
    same kinds.
    """

    name: ClassVar[str]
    media_types: ClassVar[tuple[str, ...]] = ("application/json",)  # what v1 predict takes, the first the default
    streams: ClassVar[bool] = False  # generates text a chunk at a time (docs/streaming.md); metadata says so
    # Whether its handler answers TorchServe's explanations API (Integrated Gradients: handlers/explaining.py).
    explainable: ClassVar[bool] = False

    @property
    def handler(self) -> tuple[str, str]:
        """The handler's (module in handlers/, class name)."""
        return HANDLERS[self.name]

    @abstractmethod
    def contract(self, signature: Signature) -> tuple[list[TensorSpec], list[TensorSpec]]:
        """(inputs, outputs) of the v2 contract, sized from the model's signature."""

    @abstractmethod
    def example(self, signature: Signature) -> dict[str, Any]:
        """A valid v1 request body (the handler's JSON), from the held-out input the signature carries."""

    @abstractmethod
    def handler_requests(self, signature: Signature, request: InferRequest) -> list[dict[str, Any]]:
        """The handler JSON bodies that answer a v2 request (several where the handler takes items singly)."""

    @abstractmethod
    def outputs_from(self, answers: list[dict[str, Any]]) -> list[Tensor]:
        """The v2 output tensors built from the handler's answers (BYTES as raw bytes; the codec encodes)."""

    def example_infer(self, signature: Signature) -> dict[str, Any]:
        """A valid v2 inference request: the v1 example as one tensor (for the docs and load tests)."""
        spec = self.contract(signature)[0][0]
        value = next(iter(self.example(signature).values()))
        data = value if isinstance(value, list) else [value]
        shape = [1, len(data)] if len(spec.shape) == 2 else [len(data)]
        return {"inputs": [{"name": spec.name, "datatype": spec.datatype, "shape": shape, "data": data}]}

    def the_input(self, signature: Signature, request: InferRequest) -> Tensor:
        """The request's one input, checked against the contract's (every kind takes exactly one)."""
        return checked_input(request, self.contract(signature)[0][0])


def checked_input(request: InferRequest, spec: TensorSpec) -> Tensor:
    """The request's one input when its name, datatype and shape fit `spec`; else InvalidInput."""
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


def finite_rows(tensor: Tensor, spec: TensorSpec) -> np.ndarray:
    """A numeric input as float64 rows of its shape; InvalidInput unless every value is finite."""
    rows = np.asarray(tensor.data, dtype=np.float64).reshape(tensor.shape)
    if not np.isfinite(rows).all():
        raise InvalidInput(f"input '{spec.name}' must hold finite numbers")
    return rows


def byte_items(tensor: Tensor) -> list[bytes]:
    """A BYTES input's elements; InvalidInput if any is not bytes."""
    items = list(tensor.data) if isinstance(tensor.data, list) else []
    if not all(isinstance(item, bytes) for item in items):
        raise InvalidInput(f"input '{tensor.name}' must hold BYTES elements")
    return items


def numeric_tensor(name: str, datatype: str, data: np.ndarray) -> Tensor:
    """An output tensor of `data`'s shape."""
    return Tensor(name, datatype, tuple(data.shape), data, {}, False)


def bytes_tensor(name: str, items: list[bytes]) -> Tensor:
    """A BYTES output of one element per item."""
    return Tensor(name, "BYTES", (len(items),), items, {}, False)


def labelled(signature: Signature) -> list[TensorSpec]:
    """The outputs of a classifier: one label per row and the probabilities over the signature's labels."""
    return [TensorSpec("label", "BYTES", [-1]), TensorSpec("probabilities", "FP32", [-1, len(signature["labels"])])]


def classifier_outputs(answers: list[dict[str, Any]]) -> list[Tensor]:
    """label and probabilities from a classifier handler's one answer."""
    body = answers[0]
    return [bytes_tensor("label", [str(label).encode() for label in body["label"]]),
            numeric_tensor("probabilities", "FP32", np.asarray(body["probabilities"], dtype=np.float32))]


def feature_count(signature: Signature) -> int:
    """The width of a model's one row input."""
    return int(signature["inputs"][0]["shape"][1])


def encode_json(body: dict[str, Any]) -> bytes:
    """Compact JSON for the handler (orjson: the v2 path's largest encoding after the answer's)."""
    return orjson.dumps(body)
