"""Versions at training and archiving: the signature carries the version; a bad version is a one-line exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from serving.archive.__main__ import main as archive_main
from serving.versions import is_valid, version_key
from training import registry
from training.artifacts import build_signature
from training.cli import main as train_main


def test_the_signature_carries_the_version_asked_for_or_the_registrys() -> None:
    spec = registry.get("linear_regression")
    dims = {"n_features": 3}
    assert build_signature(spec, dims, {})["version"] == spec.version == "1.0"
    assert build_signature(spec, dims, {}, version="1.1")["version"] == "1.1"


@pytest.mark.parametrize("version", ["1.0", "1.1", "2", "1.2.3", "1.1rc1", "a.b.c.d"])
def test_plain_versions_are_valid(version: str) -> None:
    assert is_valid(version)


@pytest.mark.parametrize("version", ["", "1..1", "../1", "1/1", "1.1 ", "-1", "1.2.3.4.5", "x" * 17])
def test_versions_that_could_be_paths_are_not(version: str) -> None:
    assert not is_valid(version)


def test_versions_sort_by_number_not_text() -> None:
    assert sorted(["1.10", "1.9", "2.0", "1.0", "1.1rc1"], key=version_key) == ["1.0", "1.9", "1.10", "1.1rc1", "2.0"]


def test_train_refuses_a_bad_version_in_one_line_with_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert train_main(["train", "linear_regression", "--version", "../1.1"]) == 2
    err = capsys.readouterr().err
    assert err == "error: --version '../1.1' must be numbers and letters separated by dots, e.g. 1.1\n"


def test_archive_refuses_a_bad_version_in_one_line_with_exit_2(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "artifacts" / "m"
    folder.mkdir(parents=True)
    for name in ("model.pt", "metrics.json", "model_card.md"):
        (folder / name).write_text("{}")
    (folder / "signature.json").write_text(json.dumps({"name": "m", "kind": "regression", "version": "1.0"}))
    code = archive_main(["m", "--artifacts", str(tmp_path / "artifacts"), "--store", str(tmp_path / "store"),
                         "--version", "1.1/../../x", "--device-type", "cpu"])
    assert code == 2
    assert capsys.readouterr().err == ("error: version '1.1/../../x' must be numbers and letters separated by dots, "
                                       "e.g. 1.1\n")
    assert not (tmp_path / "store").exists()
