"""A small convolutional classifier for digit-sized images (and larger ones from local datasets)."""


from collections.abc import Mapping
from typing import Any

from torch import nn


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel_size=3, padding=1, bias=False),  # BatchNorm supplies the bias
        nn.BatchNorm2d(cout),
        nn.ReLU(),
        nn.Conv2d(cout, cout, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(),
        nn.MaxPool2d(2),
    )


def digit_cnn(dims: Mapping[str, int], hp: Mapping[str, Any]) -> nn.Module:
    """Two conv blocks with BatchNorm and pooling, then a linear classifier.

    Adaptive pooling fixes the classifier's input at 2x2 whatever the image size, so the same network
    trains on 8x8 digits, 28x28 MNIST or 32x32 CIFAR-10."""
    width = int(hp["width"])
    return nn.Sequential(
        _block(dims["channels"], width),
        _block(width, 2 * width),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Dropout(float(hp["dropout"])),
        nn.Linear(2 * width * 4, dims["n_classes"]),
    )
