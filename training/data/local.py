"""Standard image datasets the user already has on disk (MNIST, Fashion-MNIST, CIFAR-10), via torchvision.

Nothing is downloaded: torchvision's dataset classes run with ``download=False`` and read the files in
their usual layouts under ``root``. Images come back as float32 [N, C, H, W] in [0, 1], like
:mod:`training.data.images`.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import torch
import torchvision

from training.data.images import ImageSplit

LOCAL_DATASETS = ("mnist", "fashion_mnist", "cifar10")

# The file torchvision looks for first in each layout, named in the error when it is missing.
_EXPECTED = {
    "mnist": "MNIST/raw/train-images-idx3-ubyte (and the other three raw idx files)",
    "fashion_mnist": "FashionMNIST/raw/train-images-idx3-ubyte (and the other three raw idx files)",
    "cifar10": "cifar-10-batches-py/data_batch_1 (data_batch_1..5, test_batch, batches.meta)",
}


class _LocalCIFAR10(torchvision.datasets.CIFAR10):
    """CIFAR-10 that only checks that its files exist.

    torchvision checks the md5 of every batch file and of ``batches.meta`` even with ``download=False``,
    so a valid subset or a re-pickled copy of the dataset would be rejected as "corrupted". The files
    here are the user's own, so their presence is all that is checked.
    """

    def _check_integrity(self) -> bool:
        folder = os.path.join(self.root, self.base_folder)
        names = [name for name, _ in self.train_list + self.test_list] + [self.meta["filename"]]
        return all(os.path.isfile(os.path.join(folder, name)) for name in names)

    def _load_meta(self) -> None:
        path = os.path.join(self.root, self.base_folder, self.meta["filename"])
        # CIFAR ships as pickles; these are local, trusted files the user supplies, as the format expects.
        with open(path, "rb") as file:
            self.classes = pickle.load(file, encoding="latin1")[self.meta["key"]]
        self.class_to_idx = {name: i for i, name in enumerate(self.classes)}


def load_local(name: str, root: Path) -> ImageSplit:
    """Load dataset ``name`` (one of :data:`LOCAL_DATASETS`) from ``root``, train and test splits.

    Raises ValueError for an unknown name and FileNotFoundError when ``root`` or the files are missing.
    """
    if name not in LOCAL_DATASETS:
        raise ValueError(f"unknown local dataset {name!r}; choose one of {', '.join(LOCAL_DATASETS)}")
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"dataset root {root} does not exist or is not a directory")
    try:
        train, test = _open(name, root, train=True), _open(name, root, train=False)
    except RuntimeError as error:  # torchvision's "Dataset not found ..." when files are missing
        message = f"{name} not found under {root}: expected {root}/{_EXPECTED[name]}"
        raise FileNotFoundError(message) from error
    x_train, y_train = _tensors(train)
    x_test, y_test = _tensors(test)
    return ImageSplit(x_train, y_train, x_test, y_test, list(train.classes))


def _open(name: str, root: Path, train: bool) -> torchvision.datasets.VisionDataset:
    if name == "mnist":
        return torchvision.datasets.MNIST(root, train=train, download=False)
    if name == "fashion_mnist":
        return torchvision.datasets.FashionMNIST(root, train=train, download=False)
    return _LocalCIFAR10(root, train=train, download=False)


def _tensors(dataset: torchvision.datasets.VisionDataset) -> tuple[torch.Tensor, torch.Tensor]:
    """Images and labels straight from ``.data``/``.targets``: one conversion, no per-item PIL images."""
    data = dataset.data
    # CIFAR keeps uint8 numpy [N, H, W, C]; the MNIST family a uint8 tensor [N, H, W].
    images = torch.from_numpy(data).permute(0, 3, 1, 2) if isinstance(data, np.ndarray) else data.unsqueeze(1)
    x = images.contiguous().to(torch.float32).div_(255.0)  # contiguous on uint8: the cheap copy
    y = torch.as_tensor(dataset.targets, dtype=torch.int64)
    return x, y
