"""What the lifecycle's gRPC tests share: a servicer context with metadata, and a v2 ModelInferRequest for the
small tabular model of these tests (two features)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NoReturn

import grpc

from serving.gateway.frontends.grpc_v2 import inference_pb2 as pb

# A tabular classifier's signature as its archive carries it: two features in, labels a and b out.
SIGNATURE = {"inputs": [{"name": "features", "shape": [-1, 2]}], "labels": ["a", "b"],
             "example": {"features": [[0.5, 1.5]]}}
ANSWER = b'{"label": ["b"], "probabilities": [[0.25, 0.75]]}'


class Metadata:
    """The part of grpc.aio's ServicerContext that ModelInfer reads: invocation metadata, no deadline."""

    def __init__(self, **metadata: str) -> None:
        self.metadata = tuple((key.replace("_", "-"), value) for key, value in metadata.items())

    def invocation_metadata(self) -> Sequence[tuple[str, str | bytes]]:
        return self.metadata

    def time_remaining(self) -> float | None:
        return None

    def done(self) -> bool:
        return False

    def set_trailing_metadata(self, trailing_metadata: tuple[tuple[str, str], ...]) -> None:
        raise AssertionError("ModelInfer itself sets no trailers (the Guard does)")

    async def abort(self, code: grpc.StatusCode, details: str,
                    trailing_metadata: tuple[tuple[str, str], ...] = ()) -> NoReturn:
        raise AssertionError(f"ModelInfer itself never aborts (the Guard does): {code} {details}")


def infer_message(model: str, version: str = "") -> pb.ModelInferRequest:
    """One row of two features for `model` (`version` empty: the traffic policy chooses)."""
    features = pb.ModelInferRequest.InferInputTensor(name="features", datatype="FP32", shape=[1, 2],
                                                     contents=pb.InferTensorContents(fp32_contents=[0.5, 1.5]))
    return pb.ModelInferRequest(model_name=model, model_version=version, inputs=[features])
