"""`policy`: a reinforcement-learning agent's observation in, its greedy action and Q-values out."""

from typing import Any

import numpy as np

from serving.gateway.core.kinds.base import ModelKind, Signature, TensorSpec, feature_count, finite_rows, numeric_tensor
from serving.gateway.v2codec import InferRequest, Tensor


class Policy(ModelKind):
    """Rows of observations in; an INT64 action and the FP32 Q-values over the signature's actions out."""

    name = "policy"

    def contract(self, signature: Signature) -> tuple[list[TensorSpec], list[TensorSpec]]:
        inputs = [TensorSpec("observation", "FP32", [-1, feature_count(signature)])]
        return inputs, [TensorSpec("action", "INT64", [-1]),
                        TensorSpec("q_values", "FP32", [-1, len(signature["actions"])])]

    def example(self, signature: Signature) -> dict[str, Any]:
        return {"observation": signature.get("example", {})["observation"]}

    def handler_requests(self, signature: Signature, request: InferRequest) -> list[dict[str, Any]]:
        spec = self.contract(signature)[0][0]
        return [{spec.name: finite_rows(self.the_input(signature, request), spec).tolist()}]

    def outputs_from(self, answers: list[dict[str, Any]]) -> list[Tensor]:
        body = answers[0]
        return [numeric_tensor("action", "INT64", np.asarray(body["action"], dtype=np.int64)),
                numeric_tensor("q_values", "FP32", np.asarray(body["q_values"], dtype=np.float32))]
