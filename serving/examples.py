"""Example requests for each served model, built from its signature.json: for the docs, `make serve`'s
sample curls and the gateway's model pages. The signature carries one held-out input in model terms; this
module turns it into the handler's JSON."""

import base64
import io
from typing import Any

import numpy as np
from PIL import Image


def example_request(signature: dict[str, Any]) -> dict[str, Any]:
    """A valid JSON request body for the model's handler."""
    kind, example = signature["kind"], signature.get("example", {})
    if kind in ("regression", "tabular-classification"):
        return {"features": example["features"]}
    if kind == "image-classification":
        return {"image": base64.b64encode(png(example["image"])).decode()}
    if kind == "text-generation":
        return {"prompt": example["prompt"], "max_new_tokens": 40, "seed": 7}
    if kind == "image-generation":
        return {"digit": int(example["digit"]), "count": 1, "seed": 7}
    if kind == "policy":
        return {"observation": example["observation"]}
    raise ValueError(f"no example for kind {kind!r}")


def png(pixels: Any) -> bytes:
    """[C][H][W] or [H][W] values in [0, 1] → PNG bytes (grayscale or RGB)."""
    array = np.asarray(pixels, dtype=np.float32)
    if array.ndim == 3:
        array = array[0] if array.shape[0] == 1 else array.transpose(1, 2, 0)
    buffer = io.BytesIO()
    Image.fromarray((array.clip(0, 1) * 255).round().astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()
