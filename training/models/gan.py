"""A conditional DCGAN for 8x8 digits, with an auxiliary classifier in the discriminator (AC-GAN) so the
generator is pushed to draw the digit it was asked for."""


from collections.abc import Mapping
from typing import Any

import torch
from torch import nn


class Generator(nn.Module):
    """digit [B] (int64) and noise [B, latent_dim] → image [B, 1, 8, 8] with pixels in [0, 1]."""

    def __init__(self, latent_dim: int, n_classes: int, width: int) -> None:
        super().__init__()
        self.width = width
        self.embed = nn.Embedding(n_classes, latent_dim)
        self.project = nn.Sequential(nn.Linear(latent_dim, 2 * width * 4), nn.BatchNorm1d(2 * width * 4),
                                     nn.ReLU())
        self.upsample = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.ConvTranspose2d(width, 1, 4, stride=2, padding=1), nn.Sigmoid(),
        )

    def forward(self, digit: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        # The label scales the noise (as in the AC-GAN paper's generator) rather than being concatenated to it:
        # the noise cannot then be ignored, which keeps samples of one digit from collapsing to a single image.
        h = self.project(noise * self.embed(digit))
        return self.upsample(h.view(-1, 2 * self.width, 2, 2))


class Discriminator(nn.Module):
    """image → (real/fake logit [B], class logits [B, n_classes])."""

    def __init__(self, n_classes: int, width: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1), nn.LeakyReLU(0.2), nn.Dropout(0.3),
            nn.Flatten(),
        )
        self.real = nn.Linear(2 * width * 16, 1)
        self.classes = nn.Linear(2 * width * 16, n_classes)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.features(image)
        return self.real(h).squeeze(1), self.classes(h)


def conditional_gan(dims: Mapping[str, int], hp: Mapping[str, Any]) -> tuple[Generator, Discriminator]:
    """The generator (what is exported) and its discriminator (training only)."""
    width = int(hp["width"])
    return (Generator(dims["latent_dim"], dims["n_classes"], width), Discriminator(dims["n_classes"], width))
