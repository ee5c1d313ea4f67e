"""Image datasets as float tensors [N, C, H, W] in [0, 1]: scikit-learn's digits and procedural shapes."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageDraw

from training.data import tabular

DIGIT_LEVELS = 16.0  # scikit-learn's digits count set pixels in 4x4 blocks: values 0..16


@dataclass(frozen=True)
class ImageSplit:
    """Images with integer labels, split into train and held-out test, plus the class names."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    labels: list[str]

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of every image."""
        c, h, w = self.x_train.shape[1:]
        return int(c), int(h), int(w)


def digits(holdout: str = "test") -> ImageSplit:
    """scikit-learn's 8x8 digits (white strokes on black), split as the tabular loader splits them."""
    split = tabular.load("digits", holdout)

    def images(x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(x).reshape(-1, 1, 8, 8) / DIGIT_LEVELS

    return ImageSplit(
        images(split.x_train),
        torch.from_numpy(split.y_train),
        images(split.x_test),
        torch.from_numpy(split.y_test),
        split.target_names,
    )


def shapes(count: int, seed: int, classes: int = 64, test_fraction: float = 0.2) -> ImageSplit:
    """Procedurally drawn glyphs: `classes` random templates of three strokes (lines and arcs), each drawn
    with random shift, scale, rotation and stroke width, rendered like the digits (32x32 pooled to 8x8).

    Telling many stroke layouts apart is the skill digit reading needs, which makes this a useful
    pretraining task; the templates depend only on `seed`."""
    rng = np.random.default_rng(seed)
    templates = [_template(rng) for _ in range(classes)]
    labels = rng.integers(0, classes, size=count)
    drawn = np.stack([_draw(templates[label], rng) for label in labels])
    x = torch.from_numpy(drawn).unsqueeze(1)
    y = torch.from_numpy(labels.astype(np.int64))
    cut = int(count * (1 - test_fraction))
    return ImageSplit(x[:cut], y[:cut], x[cut:], y[cut:], [f"glyph_{i:02d}" for i in range(classes)])


Stroke = tuple[str, tuple[float, ...]]


def _template(rng: np.random.Generator) -> list[Stroke]:
    strokes: list[Stroke] = []
    for _ in range(3):
        if rng.random() < 0.5:
            strokes.append(("line", tuple(rng.uniform(-1, 1, size=4))))
        else:
            cx, cy = rng.uniform(-0.5, 0.5, size=2)
            strokes.append(("arc", (cx, cy, rng.uniform(0.3, 0.8), rng.uniform(0, 360), rng.uniform(90, 300))))
    return strokes


def _draw(template: list[Stroke], rng: np.random.Generator) -> np.ndarray:
    canvas = Image.new("L", (32, 32), 0)
    pen = ImageDraw.Draw(canvas)
    cx, cy = rng.uniform(14, 18, size=2)
    scale = rng.uniform(9, 13)
    width = int(rng.integers(3, 6))
    angle = rng.uniform(-0.3, 0.3)
    cos, sin = math.cos(angle), math.sin(angle)

    def at(x: float, y: float) -> tuple[float, float]:
        return cx + scale * (x * cos - y * sin), cy + scale * (x * sin + y * cos)

    for kind, p in template:
        if kind == "line":
            pen.line([at(p[0], p[1]), at(p[2], p[3])], fill=255, width=width)
        else:
            (x, y), r = at(p[0], p[1]), p[2] * scale
            start = p[3] + math.degrees(angle)
            pen.arc([x - r, y - r, x + r, y + r], start, start + p[4], fill=255, width=width)
    pooled = np.asarray(canvas, dtype=np.float32).reshape(8, 4, 8, 4).mean(axis=(1, 3)) / 255.0
    return np.clip(pooled * 1.5, 0.0, 1.0)
