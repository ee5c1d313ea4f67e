"""Handler for the conditional GAN: digit label(s), count and seed → PNG images."""

import base64
from typing import Any

import torch

from handlers import imaging
from handlers.base import SignatureHandler
from handlers.checks import integer
from handlers.errors import InvalidInput
from handlers.sampling import seed_of
from handlers.wire import Request, Response

MAX_IMAGES = 64


class ImageGenerationHandler(SignatureHandler):
    """`{"digit": 3 | [3, 5], "count": 2, "seed": 7}` → `{"images": [base64 PNG …], "digits", "seed"}`;
    with `Accept: image/png` and a single image, the PNG itself."""

    def setup(self) -> None:
        self.classes = len(self.signature["labels"])
        self.latent = int(self.signature["inputs"][1]["shape"][1])

    def parse(self, request: Request) -> tuple[torch.Tensor, torch.Tensor, int, bool]:
        fields = request.fields
        if "digit" not in fields:
            raise InvalidInput("missing field 'digit'")
        raw = fields["digit"] if isinstance(fields["digit"], list) else [fields["digit"]]
        count = integer(fields.get("count", 1), "count", 1, MAX_IMAGES)
        if not raw or len(raw) * count > MAX_IMAGES:
            raise InvalidInput(f"ask for 1 to {MAX_IMAGES} images (digits × count)")
        digits = torch.tensor([integer(d, "digit", 0, self.classes - 1) for d in raw]).repeat_interleave(count)
        seed = seed_of(fields)
        noise = torch.randn(len(digits), self.latent, generator=torch.Generator().manual_seed(seed))
        return digits, noise, seed, request.accepts("image/png")

    def predict(self, items: list[Any]) -> list[Response]:
        digits = torch.cat([d for d, _, _, _ in items]).to(self.device)
        noise = torch.cat([n for _, n, _, _ in items]).to(self.device)
        parts = torch.split(self.model(digits, noise).cpu(), [len(d) for d, _, _, _ in items])
        out = []
        for images, (asked, _, seed, png) in zip(parts, items, strict=True):
            encoded = [imaging.encode_png(image) for image in images]
            if png and len(encoded) == 1:
                out.append(Response(encoded[0], content_type="image/png"))
            else:
                out.append(Response({"images": [base64.b64encode(e).decode() for e in encoded],
                                     "digits": asked.tolist(), "seed": seed, "format": "png"}))
        return out
