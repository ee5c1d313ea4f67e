"""What the gateway serves: read once at start-up from the archives in the model store (the signature,
metrics and model card each .mar carries). Model names from clients are only ever looked up here, so a
name can never become a path or a URL."""

import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from serving.examples import example_request
from serving.gateway.errors import ModelNotFound


@dataclass(frozen=True)
class ModelEntry:
    """One served model, as its archive describes it."""

    name: str
    kind: str
    version: str
    signature: dict[str, Any]
    metrics: dict[str, Any]
    card: str

    def example(self) -> dict[str, Any]:
        """A valid v1 request body for this model."""
        return example_request(self.signature)


class Catalog:
    """The models in the store, by name."""

    def __init__(self, entries: list[ModelEntry]) -> None:
        self._entries = {entry.name: entry for entry in sorted(entries, key=lambda e: e.name)}

    @classmethod
    def from_store(cls, store: Path) -> "Catalog":
        """Read every .mar in the store."""
        if not store.is_dir():
            raise FileNotFoundError(f"model store {store} does not exist (run `make archive`)")
        return cls([_read(path) for path in sorted(store.glob("*.mar"))])

    def get(self, name: str, version: str | None = None) -> ModelEntry:
        """The entry, or ModelNotFound (also for a version the model does not have)."""
        entry = self._entries.get(name)
        if entry is None:
            raise ModelNotFound(f"model {name[:100]!r} not found")
        if version is not None and version != entry.version:
            raise ModelNotFound(f"model {name!r} has no version {version[:40]!r} (served: {entry.version})")
        return entry

    def names(self) -> list[str]:
        """Every served model name, sorted."""
        return list(self._entries)

    def __iter__(self) -> Iterator[ModelEntry]:
        return iter(self._entries.values())


def _read(path: Path) -> ModelEntry:
    with zipfile.ZipFile(path) as archive:
        signature = json.loads(archive.read("signature.json"))
        metrics = json.loads(archive.read("metrics.json"))
        card = archive.read("model_card.md").decode("utf-8")
    return ModelEntry(signature["name"], signature["kind"], str(signature["version"]), signature, metrics, card)
