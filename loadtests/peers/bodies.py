"""The request bodies every server gets, from a model's signature.json example: the model's input tensor as
JSON rows for the peers that take JSON, the same tensor as an Open Inference Protocol v2 body for those that
speak v2, and the stack's own v1 body (what its handler takes: an image as a base64 PNG)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from serving.examples import example_request


def signature(model_dir: Path) -> dict[str, Any]:
    """The model's signature.json."""
    return json.loads((model_dir / "signature.json").read_text(encoding="utf-8"))


def example_tensor(model_dir: Path) -> np.ndarray:
    """The example as the model's input tensor, batch of one (FP32)."""
    sig = signature(model_dir)
    return np.asarray([sig["example"][sig["inputs"][0]["name"]]], dtype=np.float32)


def instances(model_dir: Path) -> bytes:
    """`{"instances": rows}`: the JSON body of the tensor (KServe v1's, and what every JSON peer's app reads)."""
    return json.dumps({"instances": example_tensor(model_dir).tolist()}).encode()


def v2(model_dir: Path) -> bytes:
    """The Open Inference Protocol v2 body of the tensor."""
    tensor, sig = example_tensor(model_dir), signature(model_dir)
    return json.dumps({"inputs": [{"name": sig["inputs"][0]["name"], "shape": list(tensor.shape), "datatype": "FP32",
                                   "data": tensor.ravel().tolist()}]}).encode()


def handler_v1(model_dir: Path) -> bytes:
    """The stack's v1 body: what TorchServe's handler and the gateway's v1 route take."""
    return json.dumps(example_request(signature(model_dir))).encode()


BODIES: dict[str, Callable[[Path], bytes]] = {"instances": instances, "v2": v2, "handler-v1": handler_v1}


def v2_probabilities(answer: dict[str, Any]) -> list[list[float]]:
    """The `probabilities` output of a v2 answer as rows."""
    output = next(o for o in answer["outputs"] if o["name"] == "probabilities")
    return np.asarray(output["data"], dtype=np.float64).reshape(output["shape"]).tolist()
