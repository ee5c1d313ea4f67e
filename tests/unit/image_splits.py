"""What every loaded image split must be, whichever dataset it comes from: the shapes asked for, float32 pixels
and int64 labels, and training pixels that span exactly [0, 1]."""

from __future__ import annotations

import torch

from training.data.images import ImageSplit


def assert_unit_interval_images(split: ImageSplit, train: int, test: int, image_shape: tuple[int, int, int]) -> None:
    """`train` and `test` images of `image_shape`, float32 with int64 labels, the training pixels from 0 to 1."""
    assert split.x_train.shape == (train, *image_shape)
    assert split.x_test.shape == (test, *image_shape)
    assert split.x_train.dtype == torch.float32
    assert split.y_train.dtype == torch.int64
    assert split.image_shape == image_shape
    assert float(split.x_train.min()) == 0.0
    assert float(split.x_train.max()) == 1.0
