"""`image-generation`: digits in, one generated PNG per digit out."""

import base64
from typing import Any

import numpy as np

from serving.gateway.core.errors import InvalidInput
from serving.gateway.core.kinds.base import ModelKind, Signature, TensorSpec, bytes_tensor
from serving.gateway.v2codec import InferRequest, Tensor


class ImageGeneration(ModelKind):
    """INT64 digits in; BYTES images (PNG) out, base64 in JSON unless asked for binary."""

    name = "image-generation"

    def contract(self, signature: Signature) -> tuple[list[TensorSpec], list[TensorSpec]]:
        return [TensorSpec("digit", "INT64", [-1])], [TensorSpec("image", "BYTES", [-1])]

    def example(self, signature: Signature) -> dict[str, Any]:
        return {"digit": int(signature.get("example", {})["digit"]), "count": 1, "seed": 7}

    def handler_requests(self, signature: Signature, request: InferRequest) -> list[dict[str, Any]]:
        tensor = self.the_input(signature, request)
        params = {**request.parameters, **tensor.parameters}
        digits = np.asarray(tensor.data).reshape(-1)
        if not digits.size:
            raise InvalidInput("input 'digit' is empty")
        return [{"digit": [int(d) for d in digits], "count": 1,
                 **({"seed": params["seed"]} if "seed" in params else {})}]

    def outputs_from(self, answers: list[dict[str, Any]]) -> list[Tensor]:
        return [bytes_tensor("image", [base64.b64decode(image) for image in answers[0]["images"]])]
