"""The catalog reads the store once at start; afterwards a client's model name is only a key into a dict, so no
name (traversal, an archive's file name, another case) can make the gateway read a file."""

from __future__ import annotations

import builtins
import json
import zipfile
from pathlib import Path

import pytest

from serving.gateway.core.catalog import Catalog
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
