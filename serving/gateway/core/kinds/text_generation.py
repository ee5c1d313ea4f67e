"""`text-generation`: a prompt in, its continuation out."""

from typing import Any

from serving.gateway.core.errors import InvalidInput
from serving.gateway.core.kinds.base import ModelKind, Signature, TensorSpec, byte_items, bytes_tensor
from serving.gateway.v2codec import InferRequest, Tensor

GENERATION_PARAMETERS = ("max_new_tokens", "temperature", "top_k", "seed")


class TextGeneration(ModelKind):
    """v1 takes JSON or the prompt as text/plain; v2 one BYTES prompt per element, sent to the handler singly."""

    name = "text-generation"
    media_types = ("application/json", "text/plain")
    streams = True  # the handler's step protocol (handlers/generation_step.py)

    def contract(self, signature: Signature) -> tuple[list[TensorSpec], list[TensorSpec]]:
        return [TensorSpec("prompt", "BYTES", [-1])], [TensorSpec("text", "BYTES", [-1])]

    def example(self, signature: Signature) -> dict[str, Any]:
        return {"prompt": signature.get("example", {})["prompt"], "max_new_tokens": 40, "seed": 7}

    def handler_requests(self, signature: Signature, request: InferRequest) -> list[dict[str, Any]]:
        tensor = self.the_input(signature, request)
        params = {**request.parameters, **tensor.parameters}
        options = {k: params[k] for k in GENERATION_PARAMETERS if k in params}
        return [{"prompt": _text(item), **options} for item in byte_items(tensor)]

    def outputs_from(self, answers: list[dict[str, Any]]) -> list[Tensor]:
        return [bytes_tensor("text", [str(answer["text"]).encode() for answer in answers])]


def _text(item: bytes) -> str:
    try:
        return item.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("a prompt must be UTF-8 text") from None
