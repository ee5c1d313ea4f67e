"""The image generation handler: digits, count and seed in; base64 PNGs (or one raw PNG) out."""

from __future__ import annotations

import base64
from io import BytesIO
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from handlers import sampling
from handlers.image_generation import ImageGenerationHandler
from tests.unit.handlers import harness, tiny

model_dir, worker, module = harness.kind_fixtures("image-generation", ImageGenerationHandler)


def _generate(worker: harness.Worker, headers: dict[str, str] | None = None, **body: Any) -> harness.Reply:
    (reply,) = worker.send(harness.json_request(body, headers))
    return reply


def _pixels(png: bytes) -> np.ndarray:
    with Image.open(BytesIO(png)) as image:
        assert (image.format, image.mode, image.size) == ("PNG", "L", (8, 8))
        return np.asarray(image)


def _expected(module: Any, digits: list[int], seed: int) -> np.ndarray:
    """What the module draws for these digits from the seed's noise: one randn [n, latent] from a CPU
    generator seeded with the seed (on the CPU, so a seed draws the same images on any device)."""
    noise = torch.randn(len(digits), tiny.LATENT, generator=torch.Generator().manual_seed(seed))
    images = module(torch.tensor(digits), noise)
    return (images.clamp(0, 1) * 255).round().to(torch.uint8).squeeze(1).numpy()


def test_one_digit_gives_one_png(worker: harness.Worker, module: Any) -> None:
    reply = _generate(worker, digit=3, seed=1)
    assert (reply.status, reply.content_type) == (200, "application/json")
    body = reply.json()
    assert {k: v for k, v in body.items() if k != "images"} == {"digits": [3], "seed": 1, "format": "png"}
    (image,) = body["images"]
    assert np.array_equal(_pixels(base64.b64decode(image)), _expected(module, [3], 1)[0])


def test_digits_and_count_give_count_images_of_each(worker: harness.Worker, module: Any) -> None:
    body = _generate(worker, digit=[1, 2], count=3, seed=5).json()
    assert body["digits"] == [1, 1, 1, 2, 2, 2]
    assert len(body["images"]) == 6
    drawn = np.stack([_pixels(base64.b64decode(image)) for image in body["images"]])
    assert np.array_equal(drawn, _expected(module, [1, 1, 1, 2, 2, 2], 5))
    assert len(set(body["images"])) == 6  # each image has its own noise


def test_same_seed_gives_identical_bytes(worker: harness.Worker) -> None:
    assert _generate(worker, digit=[0, 9], seed=42).body == _generate(worker, digit=[0, 9], seed=42).body
    assert _generate(worker, digit=7, seed=1).body != _generate(worker, digit=7, seed=2).body


def test_without_a_seed_each_response_gives_a_fresh_one(worker: harness.Worker) -> None:
    first, second = _generate(worker, digit=4).json(), _generate(worker, digit=4).json()
    assert first["seed"] != second["seed"]
    assert all(0 <= body["seed"] < 2**63 for body in (first, second))


def test_a_returned_seed_reproduces_the_images(worker: harness.Worker, monkeypatch: pytest.MonkeyPatch) -> None:
    """The seed returned is the one to send back; fresh seeds are 63-bit, most beyond 2**53."""
    seed = 2**62 + 12345
    monkeypatch.setattr(sampling.secrets, "randbits", lambda bits: seed)
    first = _generate(worker, digit=4).json()
    assert first["seed"] == seed
    monkeypatch.undo()
    assert _generate(worker, digit=4, seed=first["seed"]).json() == first


@pytest.mark.parametrize("seed", [2**53 + 1, 2**62 + 1, 2**63 - 1])
def test_any_63_bit_seed_is_echoed_exactly(worker: harness.Worker, seed: int) -> None:
    reply = _generate(worker, digit=1, seed=seed)
    assert reply.status == 200, reply.body
    assert reply.json()["seed"] == seed


def test_accept_image_png_gives_the_png_itself(worker: harness.Worker) -> None:
    as_json = _generate(worker, digit=3, seed=1).json()
    reply = _generate(worker, {"Accept": "image/png"}, digit=3, seed=1)
    assert (reply.status, reply.content_type) == (200, "image/png")
    assert reply.body == base64.b64decode(as_json["images"][0])
    _pixels(reply.body)


def test_accept_image_png_with_several_images_stays_json(worker: harness.Worker) -> None:
    reply = _generate(worker, {"Accept": "image/png"}, digit=3, count=2, seed=1)
    assert reply.content_type == "application/json"
    assert len(reply.json()["images"]) == 2


def test_a_batch_mixes_json_and_png_answers(worker: harness.Worker) -> None:
    replies = worker.send(harness.json_request({"digit": 3, "seed": 1}, {"Accept": "image/png"}),
                          harness.json_request({"digit": 10}),
                          harness.json_request({"digit": [5, 6], "seed": 2}))
    assert [(r.status, r.content_type) for r in replies] == [(200, "image/png"), (400, "application/json"),
                                                             (200, "application/json")]
    assert replies[2].json() == _generate(worker, digit=[5, 6], seed=2).json()
    assert replies[0].body == _generate(worker, {"Accept": "image/png"}, digit=3, seed=1).body


@pytest.mark.parametrize(("body", "message"), [
    ({"digit": 10}, "'digit' must be between 0 and 9, got 10"),
    ({"digit": -1}, "'digit' must be between 0 and 9, got -1"),
    ({"digit": "x"}, "'digit' must be a number, got 'x'"),
    ({"digit": 2.5}, "'digit' must be an integer, got 2.5"),
    ({"digit": True}, "'digit' must be a number, got bool"),
    ({"digit": [1, [2]]}, "'digit' must be a number, got list"),
    ({"digit": []}, "ask for 1 to 64 images (digits × count)"),
    ({"digit": [1, 2], "count": 33}, "ask for 1 to 64 images (digits × count)"),
    ({"digit": list(range(10)) * 7}, "ask for 1 to 64 images (digits × count)"),
    ({"digit": 1, "count": 65}, "'count' must be between 1 and 64, got 65"),
    ({"digit": 1, "count": 0}, "'count' must be between 1 and 64, got 0"),
    ({"digit": 1, "seed": -5}, "'seed' must be between 0 and 9223372036854775807, got -5"),
    ({"count": 2}, "missing field 'digit'"),
])
def test_bad_requests_are_refused(worker: harness.Worker, body: dict[str, Any], message: str) -> None:
    assert _generate(worker, **body).error(400) == message
