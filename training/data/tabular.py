"""scikit-learn's bundled tabular datasets, split the same way everywhere they are used."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn import datasets
from sklearn.model_selection import train_test_split

_LOADERS = {
    "diabetes": datasets.load_diabetes,
    "breast_cancer": datasets.load_breast_cancer,
    "wine": datasets.load_wine,
    "digits": datasets.load_digits,
}
TEST_FRACTION = 0.2
SPLIT_SEED = 0


@dataclass(frozen=True)
class TabularSplit:
    """Raw (unnormalized) features in scikit-learn's column order, split into train and held-out test."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    feature_names: list[str]
    target_names: list[str]

    @property
    def is_classification(self) -> bool:
        """Whether the target is a class index (else a real value)."""
        return bool(self.target_names)


def load(name: str, holdout: str = "test") -> TabularSplit:
    """Load a bundled dataset and split it 80/20 with a fixed seed (stratified for classification).

    `holdout="validation"` returns the training part split again 75/25 instead, so tuning never sees the
    test rows."""
    if name not in _LOADERS:
        raise ValueError(f"unknown tabular dataset {name!r}; choose one of {', '.join(_LOADERS)}")
    bunch = _LOADERS[name]()
    x = np.asarray(bunch.data, dtype=np.float32)
    target_names = [str(t) for t in getattr(bunch, "target_names", [])]
    y = np.asarray(bunch.target, dtype=np.int64 if target_names else np.float32)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=TEST_FRACTION, random_state=SPLIT_SEED, stratify=y if target_names else None
    )
    if holdout == "validation":
        x_train, x_test, y_train, y_test = train_test_split(
            x_train, y_train, test_size=0.25, random_state=SPLIT_SEED, stratify=y_train if target_names else None
        )
    elif holdout != "test":
        raise ValueError(f"holdout must be 'test' or 'validation', got {holdout!r}")
    names = [str(f) for f in getattr(bunch, "feature_names", [f"x{i}" for i in range(x.shape[1])])]
    return TabularSplit(x_train, y_train, x_test, y_test, names, target_names)
