"""`image-classification`: an encoded image (PNG or JPEG) in, a label and class probabilities out."""

import base64
import io
from typing import Any

import numpy as np
from PIL import Image

from serving.gateway.core.errors import InvalidInput
from serving.gateway.core.kinds.base import (
    ModelKind,
    Signature,
    TensorSpec,
    byte_items,
    classifier_outputs,
    labelled,
)
from serving.gateway.v2codec import CodecError, InferRequest, Tensor, decode_base64


class ImageClassification(ModelKind):
    """v1 takes the image as base64 in JSON or as the raw body; v2 as BYTES, raw or base64."""

    name = "image-classification"
    media_types = ("application/json", "image/png", "image/jpeg")
    explainable = True

    def contract(self, signature: Signature) -> tuple[list[TensorSpec], list[TensorSpec]]:
        return [TensorSpec("image", "BYTES", [-1])], labelled(signature)

    def example(self, signature: Signature) -> dict[str, Any]:
        return {"image": base64.b64encode(png(signature.get("example", {})["image"])).decode()}

    def handler_requests(self, signature: Signature, request: InferRequest) -> list[dict[str, Any]]:
        tensor = self.the_input(signature, request)
        images = [item if tensor.binary else _base64_image(item) for item in byte_items(tensor)]
        return [{"image": [base64.b64encode(image).decode() for image in images]}]

    def outputs_from(self, answers: list[dict[str, Any]]) -> list[Tensor]:
        return classifier_outputs(answers)


def png(pixels: Any) -> bytes:
    """[C][H][W] or [H][W] values in [0, 1] → PNG bytes (grayscale or RGB)."""
    array = np.asarray(pixels, dtype=np.float32)
    if array.ndim == 3:
        array = array[0] if array.shape[0] == 1 else array.transpose(1, 2, 0)
    buffer = io.BytesIO()
    Image.fromarray((array.clip(0, 1) * 255).round().astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def _base64_image(item: bytes) -> bytes:
    # Decoded here, after parsing, so the codec's error must become the gateway's 400 here too.
    try:
        return decode_base64(item, "image")
    except CodecError as exc:
        raise InvalidInput(exc.message) from None
