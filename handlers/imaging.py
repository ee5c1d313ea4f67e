"""Image decoding and encoding for the handlers, safe against hostile files."""

import io

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from handlers.errors import InvalidInput, PayloadTooLarge

MAX_PIXELS = 4096 * 4096  # a phone photo fits; a decompression bomb does not
MODES = {1: "L", 3: "RGB"}
Image.MAX_IMAGE_PIXELS = None  # the size check below reads the header first; PIL's own check would raise before it


def decode(data: bytes, channels: int, height: int, width: int) -> torch.Tensor:
    """PNG/JPEG bytes of any size, grayscale or colour → float32 [channels, height, width] in [0, 1].

    The image is resized with a box filter, which averages pixels the way the training images were made."""
    if not data:
        raise InvalidInput("empty image")
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format not in ("PNG", "JPEG"):
                raise InvalidInput(f"unsupported image format {image.format}; send PNG or JPEG")
            w, h = image.size  # read from the header, before any pixel is decoded
            if w * h > MAX_PIXELS:
                raise PayloadTooLarge(f"image of {w}x{h} pixels is larger than {MAX_PIXELS} pixels")
            converted = _eight_bit(image).convert(MODES[channels]).resize((width, height), Image.Resampling.BOX)
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, InvalidInput):
            raise
        raise InvalidInput("not a decodable PNG or JPEG image") from None
    pixels = np.asarray(converted, dtype=np.float32) / 255.0
    tensor = torch.from_numpy(pixels)
    return tensor.unsqueeze(0) if channels == 1 else tensor.permute(2, 0, 1).contiguous()


def _eight_bit(image: Image.Image) -> Image.Image:
    """16-bit greyscale scaled to 8 bits (PIL's convert would clip it to white)."""
    if image.mode.startswith("I"):
        return Image.fromarray((np.asarray(image, dtype=np.float32) / 257).round().astype(np.uint8))
    return image


def encode_png(image: torch.Tensor) -> bytes:
    """A [1, H, W] or [H, W] tensor in [0, 1] → grayscale PNG bytes."""
    pixels = (image.detach().cpu().squeeze(0).clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buffer, format="PNG")
    return buffer.getvalue()
