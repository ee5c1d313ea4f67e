"""Local datasets: small files written in the real on-disk formats, loaded through torchvision."""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.unit.image_splits import assert_unit_interval_images
from training.data.local import LOCAL_DATASETS, load_local

MNIST_CLASSES = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four",
                 "5 - five", "6 - six", "7 - seven", "8 - eight", "9 - nine"]  # fmt: skip
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]  # fmt: skip
CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _idx_images(path: Path, images: np.ndarray) -> None:
    # IDX: magic 2051 (0x00000803: unsigned bytes, 3 dims), then each dim as a big-endian int32.
    path.write_bytes(struct.pack(">iiii", 2051, *images.shape) + images.astype(np.uint8).tobytes())


def _idx_labels(path: Path, labels: np.ndarray) -> None:
    path.write_bytes(struct.pack(">ii", 2049, len(labels)) + labels.astype(np.uint8).tobytes())


def _images(count: int, seed: int) -> np.ndarray:
    """Images whose pixel [0, 0] is 255 and [27, 27] is 0, so the value range's ends are known."""
    images = np.random.default_rng(seed).integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
    images[:, 0, 0], images[:, 27, 27] = 255, 0
    return images


def _write_mnist(raw: Path) -> dict[str, np.ndarray]:
    raw.mkdir(parents=True)
    arrays = {"train_x": _images(12, 0), "train_y": np.arange(12) % 10,
              "test_x": _images(5, 1), "test_y": np.array([9, 3, 0, 7, 1])}  # fmt: skip
    _idx_images(raw / "train-images-idx3-ubyte", arrays["train_x"])
    _idx_labels(raw / "train-labels-idx1-ubyte", arrays["train_y"])
    _idx_images(raw / "t10k-images-idx3-ubyte", arrays["test_x"])
    _idx_labels(raw / "t10k-labels-idx1-ubyte", arrays["test_y"])
    return arrays


@pytest.mark.parametrize(
    ("name", "folder", "classes"),
    [("mnist", "MNIST", MNIST_CLASSES), ("fashion_mnist", "FashionMNIST", FASHION_CLASSES)],
)
def test_mnist_family_loads_raw_idx_files(tmp_path: Path, name: str, folder: str, classes: list[str]) -> None:
    written = _write_mnist(tmp_path / folder / "raw")
    split = load_local(name, tmp_path)

    assert_unit_interval_images(split, 12, 5, (1, 28, 28))
    assert bool((split.x_train[:, 0, 0, 0] == 1.0).all())
    assert bool((split.x_test[:, 0, 27, 27] == 0.0).all())
    expected = torch.from_numpy(written["train_x"]).float().unsqueeze(1) / 255
    assert torch.equal(split.x_train, expected)
    assert split.y_train.tolist() == written["train_y"].tolist()
    assert split.y_test.tolist() == written["test_y"].tolist()
    assert split.labels == classes


def _write_cifar(folder: Path) -> dict[str, list[int]]:
    """Batches as pickled dicts of uint8 rows [n, 3072] (1024 red, 1024 green, 1024 blue) and labels."""
    folder.mkdir(parents=True)
    labels = {"data_batch_1": [3, 8], "data_batch_2": [0], "data_batch_3": [1, 2, 9],
              "data_batch_4": [4], "data_batch_5": [5, 6], "test_batch": [7, 2]}  # fmt: skip
    for file_name, batch_labels in labels.items():
        data = np.zeros((len(batch_labels), 3072), dtype=np.uint8)
        data[0, 1024 + 5 * 32 + 7] = 255  # first image of each batch: green channel, row 5, column 7
        # Keys are str: torchvision unpickles with encoding="latin1", which turns the original files'
        # Python 2 str keys into str ("data"); bytes keys (b"data") would not be found.
        with (folder / file_name).open("wb") as file:
            pickle.dump({"data": data, "labels": batch_labels}, file)
    with (folder / "batches.meta").open("wb") as file:
        pickle.dump({"label_names": CIFAR_CLASSES}, file)
    return labels


def test_cifar10_loads_pickled_batches_without_checksums(tmp_path: Path) -> None:
    labels = _write_cifar(tmp_path / "cifar-10-batches-py")
    split = load_local("cifar10", tmp_path)

    assert split.x_train.shape == (9, 3, 32, 32)
    assert split.x_test.shape == (2, 3, 32, 32)
    assert split.x_train.dtype == torch.float32
    assert split.x_train.is_contiguous()
    first = split.x_train[0]
    assert float(first[1, 5, 7]) == 1.0
    assert float(first.sum()) == 1.0  # that one pixel, nowhere else
    assert float(split.x_test[0, 1, 5, 7]) == 1.0
    train_labels = [label for name, batch in labels.items() if name != "test_batch" for label in batch]
    assert split.y_train.tolist() == train_labels
    assert split.y_test.tolist() == labels["test_batch"]
    assert split.y_train.dtype == torch.int64
    assert split.labels == CIFAR_CLASSES


def test_cifar10_without_meta_names_the_layout(tmp_path: Path) -> None:
    _write_cifar(tmp_path / "cifar-10-batches-py")
    (tmp_path / "cifar-10-batches-py" / "batches.meta").unlink()
    with pytest.raises(FileNotFoundError, match="batches.meta"):
        load_local("cifar10", tmp_path)


def test_unknown_name_lists_the_choices(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="choose one of mnist, fashion_mnist, cifar10"):
        load_local("imagenet", tmp_path)


def test_missing_root_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match="nowhere does not exist"):
        load_local("mnist", missing)


@pytest.mark.parametrize(
    ("name", "layout"),
    [
        ("mnist", "MNIST/raw/train-images-idx3-ubyte"),
        ("fashion_mnist", "FashionMNIST/raw/train-images-idx3-ubyte"),
        ("cifar10", "cifar-10-batches-py/data_batch_1"),
    ],
)
def test_empty_root_names_the_expected_layout(tmp_path: Path, name: str, layout: str) -> None:
    assert name in LOCAL_DATASETS
    with pytest.raises(FileNotFoundError, match=layout) as error:
        load_local(name, tmp_path)
    assert "\n" not in str(error.value)
