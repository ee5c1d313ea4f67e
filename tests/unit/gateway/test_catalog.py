"""The catalog reads the store once at start; afterwards a client's model name is only a key into a dict, so no
name (traversal, an archive's file name, another case) can make the gateway read a file."""

from __future__ import annotations

import builtins
import json
import zipfile
from pathlib import Path

import pytest

from serving.gateway.core.catalog import Catalog, read_archive
from serving.gateway.core.errors import ModelNotFound


def _archive(store: Path, name: str) -> None:
    with zipfile.ZipFile(store / f"{name}.mar", "w") as archive:
        archive.writestr("signature.json", json.dumps({"name": name, "kind": "regression", "version": "1.0"}))
        archive.writestr("metrics.json", "{}")
        archive.writestr("model_card.md", f"# Model card: {name}")


@pytest.mark.parametrize("name", ["../store/m", "m.mar", "M", "m ", "m\x00", "/etc/passwd", "", "a" * 10_000])
def test_lookups_after_start_read_no_file_and_match_names_exactly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  name: str) -> None:
    _archive(tmp_path, "m")
    catalog = Catalog.from_store(tmp_path)

    def no_file(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a file was opened: {args}")

    monkeypatch.setattr(builtins, "open", no_file)
    monkeypatch.setattr(zipfile, "ZipFile", no_file)
    monkeypatch.setattr(Path, "open", no_file)
    assert catalog.get("m").card == "# Model card: m"
    with pytest.raises(ModelNotFound, match="not found") as refused:
        catalog.get(name)
    assert len(refused.value.message) < 150  # the name is cut, not echoed whole
    with pytest.raises(ModelNotFound, match="has no version '../1.0'"):
        catalog.get("m", "../1.0")


def _versioned(store: Path, name: str, version: str) -> None:
    with zipfile.ZipFile(store / f"{name}-{version}.mar", "w") as archive:
        archive.writestr("signature.json", json.dumps({"name": name, "kind": "regression", "version": version}))
        archive.writestr("metrics.json", "{}")
        archive.writestr("model_card.md", f"# Model card: {name} {version}")


def test_several_versions_are_served_side_by_side_with_the_newest_as_default(tmp_path: Path) -> None:
    for version in ("1.9", "1.10", "1.0"):
        _versioned(tmp_path, "m", version)
    catalog = Catalog.from_store(tmp_path)
    assert catalog.versions("m") == ["1.0", "1.9", "1.10"]
    assert catalog.default_version("m") == "1.10"
    assert catalog.get("m").version == "1.10"
    assert catalog.get("m", "1.9").card == "# Model card: m 1.9"
    assert catalog.known() == {"m": {"1.0", "1.9", "1.10"}}
    assert [(e.name, e.version) for e in catalog] == [("m", "1.10")]
    with pytest.raises(ModelNotFound, match=r"model 'm' has no version '2.0' \(served: 1.0, 1.9, 1.10\)"):
        catalog.get("m", "2.0")


def test_versions_are_added_and_removed_at_run_time_without_moving_the_default(tmp_path: Path) -> None:
    _versioned(tmp_path, "m", "1.0")
    catalog = Catalog.from_store(tmp_path)
    _versioned(tmp_path, "m", "1.1")
    catalog.add(read_archive(tmp_path / "m-1.1.mar"))
    assert catalog.versions("m") == ["1.0", "1.1"]
    assert catalog.default_version("m") == "1.0", "a new candidate takes no traffic by itself"
    with pytest.raises(ValueError, match="m 1.0 is the model's default version; make another the default first"):
        catalog.remove("m", "1.0")
    catalog.set_default("m", "1.1")
    catalog.remove("m", "1.0")
    assert catalog.versions("m") == ["1.1"]
    with pytest.raises(ValueError, match="m 1.1 is the model's only version"):
        catalog.remove("m", "1.1")
    with pytest.raises(ModelNotFound, match="has no version '1.0'"):
        catalog.set_default("m", "1.0")


def test_two_archives_of_the_same_version_are_refused(tmp_path: Path) -> None:
    _archive(tmp_path, "m")
    _versioned(tmp_path, "m", "1.0")
    with pytest.raises(ValueError, match="two archives of m version 1.0 in the store"):
        Catalog.from_store(tmp_path)


def test_only_the_archives_torchserve_loads_are_served_at_start(tmp_path: Path) -> None:
    _archive(tmp_path, "a")
    _archive(tmp_path, "b")
    _versioned(tmp_path, "a", "1.1")
    assert Catalog.from_store(tmp_path, "a.mar,b=b.mar").known() == {"a": {"1.0"}, "b": {"1.0"}}
    assert Catalog.from_store(tmp_path, "a-1.1.mar").known() == {"a": {"1.1"}}
    assert Catalog.from_store(tmp_path, "all").known() == {"a": {"1.0", "1.1"}, "b": {"1.0"}}
