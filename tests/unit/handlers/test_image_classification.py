"""The image classification handler: PNG/JPEG in any size and any of the accepted envelopes, or a pixel array;
hostile and broken files refused with 400 or 413."""

from __future__ import annotations

import base64
import struct
import zlib
from io import BytesIO
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from handlers.image_classification import ImageClassificationHandler
from tests.unit.handlers import harness
from tests.unit.handlers.approx import approx_json

model_dir, worker, module = harness.kind_fixtures("image-classification", ImageClassificationHandler)


def _digit(seed: int = 3) -> torch.Tensor:
    """A fixed 8x8 'digit' of values in [0, 1]."""
    return torch.rand(8, 8, generator=torch.Generator().manual_seed(seed))


def _encode(image: Image.Image, fmt: str = "PNG", **options: Any) -> bytes:
    buffer = BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _png(pixels: torch.Tensor) -> bytes:
    """Values in [0, 1] rendered as an 8-bit grayscale PNG, round(v * 255)."""
    return _encode(Image.fromarray((pixels * 255).round().to(torch.uint8).numpy()))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _answer(module: Any, pixels: torch.Tensor) -> tuple[str, list[float]]:
    """The module's label and probabilities for one [8, 8] image."""
    probabilities = module(pixels.reshape(1, 1, 8, 8).float())[0]
    return str(int(probabilities.argmax())), probabilities.tolist()


def _huge_header_png(width: int, height: int) -> bytes:
    """A real 8x8 PNG whose IHDR claims width x height (CRC fixed, so only the size is a lie)."""
    data = bytearray(_encode(Image.new("L", (8, 8))))
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack("!II", width, height)
    data[29:33] = struct.pack("!I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def test_the_fixture_model_tells_digits_apart(module: Any) -> None:
    assert len({_answer(module, _digit(seed))[0] for seed in range(8)}) > 1


def test_a_rendered_digit_gets_the_module_probabilities(worker: harness.Worker, module: Any) -> None:
    pixels = _digit()
    (reply,) = worker.handle([{"body": bytearray(_png(pixels))}])
    assert (reply.status, reply.content_type) == (200, "application/json")
    body = reply.json()
    label, probabilities = _answer(module, pixels)
    assert body["probabilities"] == pytest.approx(probabilities, abs=1e-2)
    # exactly the module's answer on what the PNG holds, 8-bit values / 255
    label, probabilities = _answer(module, (pixels * 255).round() / 255)
    assert body == {"label": label, "probabilities": pytest.approx(probabilities, abs=1e-6)}
    assert sum(body["probabilities"]) == pytest.approx(1.0, abs=1e-6)


def test_every_envelope_gives_the_same_answer(worker: harness.Worker) -> None:
    png = _png(_digit())
    replies = worker.send(
        harness.raw_request(png, "image/png"),
        harness.json_request({"image": _b64(png)}),
        harness.json_request({"data": _b64(png)}),
        harness.form_request({"data": (png, "image/png")}),
    )
    replies += worker.send(harness.form_request({"image": (png, "image/png")}),
                           harness.form_request({"file": (png, "application/octet-stream")}))
    assert [r.status for r in replies] == [200] * 6
    assert [r.json() for r in replies] == [approx_json(replies[0].json())] * 6


def test_a_list_of_base64_images_gets_lists(worker: harness.Worker, module: Any) -> None:
    digits = [_digit(1), _digit(2), _digit(3)]
    (reply,) = worker.handle([{"body": {"image": [_b64(_png(d)) for d in digits]}}])
    answers = [_answer(module, (d * 255).round() / 255) for d in digits]
    assert reply.json() == {"label": [label for label, _ in answers],
                            "probabilities": [pytest.approx(p, abs=1e-6) for _, p in answers]}


def test_a_large_colour_png_is_averaged_down_to_8x8(worker: harness.Worker, module: Any) -> None:
    """300x200 in quadrants of grey: the box filter averages each 37.5x25 block, so the 8x8 input is exact."""
    quadrants = np.array([[40, 200], [120, 250]], dtype=np.uint8)
    rgb = np.repeat(np.repeat(quadrants, [100, 100], axis=0), [150, 150], axis=1)
    image = Image.fromarray(np.stack([rgb] * 3, axis=-1), mode="RGB")
    assert image.size == (300, 200)
    (reply,) = worker.handle([{"body": bytearray(_encode(image))}])
    expected = torch.tensor(np.repeat(np.repeat(quadrants, 4, axis=0), 4, axis=1), dtype=torch.float32) / 255
    label, probabilities = _answer(module, expected)
    assert reply.json() == {"label": label, "probabilities": pytest.approx(probabilities, abs=1e-6)}


def test_a_jpeg_is_read(worker: harness.Worker, module: Any) -> None:
    pixels = _digit()
    jpeg = _encode(Image.open(BytesIO(_png(pixels))), "JPEG", quality=100)
    (reply,) = worker.send(harness.raw_request(jpeg, "image/jpeg"))
    assert reply.status == 200
    assert reply.json()["probabilities"] == pytest.approx(_answer(module, pixels)[1], abs=1e-2)


def test_a_16_bit_png_reads_like_the_8_bit_one(worker: harness.Worker) -> None:
    """A 16-bit greyscale PNG is a PNG; v * 65535 must read as v, not saturate to white."""
    pixels = _digit()
    sixteen = _encode(Image.fromarray((pixels * 65535).round().numpy().astype(np.uint16)))
    eight, deep = worker.handle([{"body": bytearray(_png(pixels))}, {"body": bytearray(sixteen)}])
    assert deep.status == 200
    assert deep.json()["probabilities"] == pytest.approx(eight.json()["probabilities"], abs=1e-2)


def test_pixels_are_fed_to_the_module_as_they_are(worker: harness.Worker, module: Any) -> None:
    pixels = _digit()
    (reply,) = worker.handle([{"body": {"pixels": pixels.tolist()}}])
    label, probabilities = _answer(module, pixels)
    assert reply.json() == {"label": label, "probabilities": pytest.approx(probabilities, abs=1e-6)}


@pytest.mark.parametrize(("pixels", "message"), [
    (_digit()[:7].tolist(), "'pixels' must have 8 rows of 8 values"),
    ([[0.5] * 7] * 8, "'pixels' row 0 has 7 values; the model expects 8"),
    ([[0.5] * 8] * 9, "'pixels' has 9 rows; at most 8 per request"),
    ([[1.5] * 8] * 8, "'pixels' must be between 0 and 1, got 1.5"),
    ([[-0.5] * 8] * 8, "'pixels' must be between 0 and 1, got -0.5"),
    ([[float("nan")] * 8] * 8, "'pixels[0][0]' must be finite and within float32 range, got nan"),
    ("0" * 64, "'pixels' must be a list of 8 numbers or a list of such lists"),
])
def test_bad_pixels_are_refused(worker: harness.Worker, pixels: Any, message: str) -> None:
    (reply,) = worker.handle([{"body": {"pixels": pixels}}])
    assert reply.error(400) == message


PNG = _png(_digit())


@pytest.mark.parametrize(("row", "message"), [
    pytest.param({"body": bytearray(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)}, "not a decodable PNG or JPEG image",
                 id="corrupt-png"),
    pytest.param({"body": bytearray(PNG[: len(PNG) // 2])}, "not a decodable PNG or JPEG image", id="truncated-png"),
    pytest.param({"body": bytearray(b"hello, model")}, "not a decodable PNG or JPEG image", id="text"),
    pytest.param({"body": bytearray(_encode(Image.new("L", (8, 8)), "GIF"))},
                 "unsupported image format GIF; send PNG or JPEG", id="gif"),
    pytest.param({"body": {"image": ""}}, "empty image", id="zero-byte-base64"),
    pytest.param({"data": bytearray()}, "empty request body", id="zero-byte-multipart-data"),
    pytest.param({"image": bytearray()}, "empty image", id="zero-byte-multipart-image"),
    pytest.param({"body": bytearray()}, "empty request body", id="zero-byte-body"),
    pytest.param({"body": {"image": "not base64!"}}, "'image' is not valid base64", id="not-base64"),
    pytest.param({"body": {"image": _b64(b"plain words")}}, "not a decodable PNG or JPEG image",
                 id="base64-of-junk"),
    pytest.param({"body": {"image": 42}}, "'image' must be a base64-encoded string", id="number"),
    pytest.param({"body": {"image": []}}, "'image' must hold 1 to 64 images", id="empty-list"),
    pytest.param({"body": {"image": [_b64(PNG)] * 65}}, "'image' must hold 1 to 64 images", id="65-images"),
    pytest.param({"body": {"image": [_b64(PNG), "%%%"]}}, "'image' is not valid base64", id="bad-item-in-list"),
    pytest.param({"body": {"picture": _b64(PNG)}},
                 "send an image: a PNG/JPEG body, a base64 'image' field, or a 'pixels' array", id="no-image"),
])
def test_broken_images_are_refused_with_400(worker: harness.Worker, row: Any, message: str) -> None:
    (reply,) = worker.handle([row])
    assert reply.error(400) == message


def test_an_image_of_huge_dimensions_is_refused_with_413(worker: harness.Worker) -> None:
    png = _encode(Image.new("1", (5000, 5000)))
    assert len(png) < 10_000  # small on disk, 25 megapixels once decoded
    (reply,) = worker.send(harness.raw_request(png, "image/png"))
    assert reply.phrase == "Payload Too Large"
    assert reply.error(413) == "image of 5000x5000 pixels is larger than 16777216 pixels"


def test_a_header_claiming_20000x20000_is_refused_with_413(worker: harness.Worker) -> None:
    """Past twice PIL's own MAX_IMAGE_PIXELS, Image.open raises DecompressionBombError before the handler's
    size check: that must still read as too large (413), not as a broken file."""
    (reply,) = worker.handle([{"body": bytearray(_huge_header_png(20000, 20000))}])
    assert reply.error(413).endswith("is larger than 16777216 pixels")


def test_bad_images_in_a_batch_fail_alone(worker: harness.Worker) -> None:
    good = {"body": bytearray(PNG)}
    replies = worker.handle([good, {"body": bytearray(b"\x89PNG junk")},
                             {"body": {"image": [_b64(PNG), _b64(PNG)]}}, {"body": {"image": "@@"}}])
    assert [r.status for r in replies] == [200, 400, 200, 400]
    first = replies[0].json()
    assert replies[2].json() == {"label": [first["label"]] * 2, "probabilities": [first["probabilities"]] * 2}
