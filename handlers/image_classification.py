"""Handler for image classifiers: PNG/JPEG of any size (raw body, base64 or multipart) or a pixel tensor."""

from typing import Any

import torch

from handlers import explaining, imaging
from handlers.base import SignatureHandler, labelled
from handlers.checks import bounded, matrix
from handlers.errors import InvalidInput
from handlers.wire import Request, Response, base64_bytes

MAX_IMAGES = 64
IMAGE_FIELDS = ("image", "data", "file")


class ImageClassificationHandler(SignatureHandler):
    """An image → `{"label", "probabilities"}`; a list of base64 images → lists of both."""

    def setup(self) -> None:
        _, self.channels, self.height, self.width = (int(d) for d in self.signature["inputs"][0]["shape"])

    def parse(self, request: Request) -> tuple[torch.Tensor, bool]:
        if request.raw is not None:
            return self._decode(request.raw).unsqueeze(0), False
        if "pixels" in request.fields:
            return self._pixels(request.fields["pixels"]).unsqueeze(0), False
        field = next((name for name in IMAGE_FIELDS if name in request.fields), None)
        if field is None:
            raise InvalidInput("send an image: a PNG/JPEG body, a base64 'image' field, or a 'pixels' array")
        value = request.fields[field]
        if isinstance(value, list):
            if not 1 <= len(value) <= MAX_IMAGES:
                raise InvalidInput(f"'{field}' must hold 1 to {MAX_IMAGES} images")
            return torch.stack([self._decode(base64_bytes(v, field)) for v in value]), True
        return self._decode(base64_bytes(value, field)).unsqueeze(0), False

    def predict(self, items: list[Any]) -> list[Response]:
        images = torch.cat([x for x, _ in items]).to(self.device)
        parts = torch.split(self.model(images).cpu(), [len(x) for x, _ in items])
        labels = self.signature["labels"]
        return [labelled(p, labels, many) for p, (_, many) in zip(parts, items, strict=True)]

    def explanation(self, request: Request) -> Response:
        """`{"image": …, "target": label, "steps": n}` → per-pixel attributions [H][W] (summed over colour
        channels) against a black image, the digits' background."""
        images, _ = self.parse(request)
        if len(images) != 1:
            raise InvalidInput(f"an explanation takes one image, got {len(images)}")
        labels = self.signature["labels"]
        chosen = explaining.options(request.fields, labels)
        images = images.to(self.device)
        result = explaining.integrated_gradients(self.differentiable(), images, torch.zeros_like(images), chosen.target,
                                                 chosen.steps)
        pixels = result.attributions[0].sum(dim=0).tolist()
        return Response(explaining.body([{**explaining.summary(result, 0, labels), "attributions": pixels}],
                                        False, chosen.steps))

    def _decode(self, data: bytes) -> torch.Tensor:
        return imaging.decode(data, self.channels, self.height, self.width)

    def _pixels(self, value: Any) -> torch.Tensor:
        """[H][W] (one channel) or [C][H][W] values in [0, 1], exactly the signature's size."""
        planes = value if self.channels > 1 else [value]
        if not isinstance(planes, list) or len(planes) != self.channels:
            raise InvalidInput(f"'pixels' must have {self.channels} channel(s) of {self.height}x{self.width}")
        tensor = torch.stack([matrix(p, "pixels", self.width, self.height) for p in planes])
        if tensor.shape[1] != self.height:
            raise InvalidInput(f"'pixels' must have {self.height} rows of {self.width} values")
        bounded(float(tensor.min()), "pixels", 0.0, 1.0)
        bounded(float(tensor.max()), "pixels", 0.0, 1.0)
        return tensor
