"""The offline datasets: scikit-learn's tabular sets, pydoc's text, the digits and procedural shapes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn import datasets

from tests.unit.image_splits import assert_unit_interval_images
from training.data import images, tabular, text

# name: (loader, train rows, test rows, classes); 80/20 with the test share rounded up, as scikit-learn does.
TABULAR = {
    "diabetes": (datasets.load_diabetes, 353, 89, 0),
    "breast_cancer": (datasets.load_breast_cancer, 455, 114, 2),
    "wine": (datasets.load_wine, 142, 36, 3),
    "digits": (datasets.load_digits, 1437, 360, 10),
}


def _sorted_rows(x: np.ndarray) -> np.ndarray:
    return x[np.lexsort(x.T[::-1])]


@pytest.mark.parametrize("name", sorted(TABULAR))
def test_tabular_split_is_80_20(name: str) -> None:
    _, n_train, n_test, _ = TABULAR[name]
    split = tabular.load(name)
    assert split.x_train.shape[0] == len(split.y_train) == n_train
    assert split.x_test.shape[0] == len(split.y_test) == n_test
    assert split.x_train.shape[1] == split.x_test.shape[1] == len(split.feature_names)


@pytest.mark.parametrize("name", sorted(TABULAR))
def test_tabular_features_are_raw_in_sklearn_column_order(name: str) -> None:
    loader, _, _, n_classes = TABULAR[name]
    bunch = loader()
    raw = np.asarray(bunch.data, dtype=np.float32)
    split = tabular.load(name)

    assert split.feature_names == [str(f) for f in bunch.feature_names]
    assert split.x_test.dtype == np.float32
    # Every row of sklearn's data is distinct, so the first held-out row names exactly one sample.
    (matches,) = np.nonzero((raw == split.x_test[0]).all(axis=1))
    assert len(matches) == 1
    assert split.y_test[0] == bunch.target[matches[0]]
    # Train and test together are the whole dataset, each sample once.
    together = np.concatenate([split.x_train, split.x_test])
    assert np.array_equal(_sorted_rows(together), _sorted_rows(raw))
    assert len(split.target_names) == n_classes
    assert split.is_classification == (n_classes > 0)


def test_tabular_targets_are_class_ids_or_real_values() -> None:
    wine, diabetes = tabular.load("wine"), tabular.load("diabetes")
    assert wine.y_train.dtype == np.int64
    assert wine.target_names == ["class_0", "class_1", "class_2"]
    assert diabetes.y_train.dtype == np.float32
    assert diabetes.target_names == []


@pytest.mark.parametrize("name", sorted(TABULAR))
def test_tabular_load_is_identical_across_calls(name: str) -> None:
    first, second = tabular.load(name), tabular.load(name)
    for field in ("x_train", "y_train", "x_test", "y_test"):
        assert np.array_equal(getattr(first, field), getattr(second, field))


def test_tabular_unknown_dataset_names_the_choices() -> None:
    message = r"unknown tabular dataset 'iris'; choose one of diabetes, breast_cancer, wine, digits"
    with pytest.raises(ValueError, match=message):
        tabular.load("iris")


@pytest.fixture(scope="module")
def corpus() -> text.CharCorpus:
    return text.load_corpus()


def test_corpus_vocab_covers_the_text_and_the_split_is_the_whole_text(corpus: text.CharCorpus) -> None:
    source = text.pydoc_text()
    assert corpus.vocab == sorted(set(source))
    assert len(corpus.train) + len(corpus.validation) == len(source)
    assert len(corpus.validation) == len(source) - int(len(source) * 0.9)
    ids = torch.cat([corpus.train, corpus.validation])
    assert "".join(corpus.vocab[i] for i in ids[:500].tolist()) == source[:500]
    assert "".join(corpus.vocab[i] for i in ids[-500:].tolist()) == source[-500:]


def test_encode_round_trips(corpus: text.CharCorpus) -> None:
    sample = "def f(x):\n    return x + 1  # the for statement"
    ids = corpus.encode(sample)
    assert ids.dtype == torch.int64
    assert "".join(corpus.vocab[i] for i in ids.tolist()) == sample


def test_encode_rejects_characters_outside_the_vocabulary() -> None:
    small = text.load_corpus("ab" * 60)
    assert small.vocab == ["a", "b"]
    with pytest.raises(ValueError, match=r"characters outside the vocabulary: \['c', 'z'\]"):
        small.encode("abzcz")


def test_load_corpus_splits_a_given_text() -> None:
    small = text.load_corpus("abc" * 40)
    assert small.train.tolist() == [0, 1, 2] * 36
    assert small.validation.tolist() == [0, 1, 2] * 4


def test_load_corpus_refuses_a_tiny_text() -> None:
    with pytest.raises(ValueError, match="at least 100 characters"):
        text.load_corpus("too short")


def test_unigram_entropy_by_hand() -> None:
    # "aaab" plus a symbol that never occurs: p = 3/4, 1/4 (the unused id adds nothing).
    ids = torch.tensor([0, 0, 0, 1])
    expected = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert math.isclose(text.unigram_entropy(ids, vocab_size=3), expected, rel_tol=1e-12)
    assert math.isclose(text.unigram_entropy(torch.tensor([0, 1, 2, 3]), 4), math.log(4), rel_tol=1e-12)
    assert text.unigram_entropy(torch.tensor([2, 2, 2]), 3) == 0.0


def test_digits_are_unit_interval_images() -> None:
    split = images.digits()
    assert_unit_interval_images(split, 1437, 360, (1, 8, 8))
    assert float(split.x_test.min()) >= 0.0
    assert float(split.x_test.max()) <= 1.0
    assert split.labels == [str(d) for d in range(10)]


def test_digits_follow_the_tabular_split() -> None:
    split, table = images.digits(), tabular.load("digits")
    assert torch.equal(split.x_test[0, 0], torch.from_numpy(table.x_test[0]).reshape(8, 8) / 16.0)
    assert split.y_test.tolist() == table.y_test.tolist()


def test_shapes_are_deterministic_per_seed() -> None:
    first, again, other = images.shapes(200, seed=1), images.shapes(200, seed=1), images.shapes(200, seed=2)
    assert torch.equal(first.x_train, again.x_train)
    assert torch.equal(first.x_test, again.x_test)
    assert torch.equal(first.y_train, again.y_train)
    assert not torch.equal(first.x_train, other.x_train)


def test_shapes_are_unit_interval_images() -> None:
    split = images.shapes(200, seed=1)
    assert split.x_train.shape == (160, 1, 8, 8)
    assert split.x_test.shape == (40, 1, 8, 8)
    assert split.x_train.dtype == torch.float32
    assert float(torch.cat([split.x_train, split.x_test]).min()) >= 0.0
    assert float(torch.cat([split.x_train, split.x_test]).max()) <= 1.0
    assert float(split.x_train.max()) > 0.5  # strokes are drawn, not a blank canvas
    assert len(split.labels) == 64
    assert int(split.y_train.min()) >= 0
    assert int(split.y_train.max()) < 64


def test_shapes_class_count() -> None:
    split = images.shapes(50, seed=0, classes=4)
    assert split.labels == ["glyph_00", "glyph_01", "glyph_02", "glyph_03"]
    assert set(torch.cat([split.y_train, split.y_test]).tolist()) <= {0, 1, 2, 3}
