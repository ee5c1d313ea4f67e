"""Models over rows of features: `regression` (one number a row) and `tabular-classification` (a label a row)."""

from typing import Any

import numpy as np

from serving.gateway.core.kinds.base import (
    ModelKind,
    Signature,
    TensorSpec,
    classifier_outputs,
    feature_count,
    finite_rows,
    labelled,
    numeric_tensor,
)
from serving.gateway.v2codec import InferRequest, Tensor


class _Rows(ModelKind):
    explainable = True  # Integrated Gradients per feature

    def _features(self, signature: Signature) -> list[TensorSpec]:
        return [TensorSpec("features", "FP32", [-1, feature_count(signature)])]

    def example(self, signature: Signature) -> dict[str, Any]:
        return {"features": signature.get("example", {})["features"]}

    def handler_requests(self, signature: Signature, request: InferRequest) -> list[dict[str, Any]]:
        spec = self.contract(signature)[0][0]
        return [{spec.name: finite_rows(self.the_input(signature, request), spec).tolist()}]


class Regression(_Rows):
    """Rows of features in, one FP32 prediction a row out."""

    name = "regression"

    def contract(self, signature: Signature) -> tuple[list[TensorSpec], list[TensorSpec]]:
        return self._features(signature), [TensorSpec("prediction", "FP32", [-1])]

    def outputs_from(self, answers: list[dict[str, Any]]) -> list[Tensor]:
        return [numeric_tensor("prediction", "FP32", np.asarray(answers[0]["prediction"], dtype=np.float32))]


class TabularClassification(_Rows):
    """Rows of features in, a label and class probabilities a row out."""

    name = "tabular-classification"

    def contract(self, signature: Signature) -> tuple[list[TensorSpec], list[TensorSpec]]:
        return self._features(signature), labelled(signature)

    def outputs_from(self, answers: list[dict[str, Any]]) -> list[Tensor]:
        return classifier_outputs(answers)
