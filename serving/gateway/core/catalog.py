"""What the gateway serves: read once at start-up from the archives in the model store (the signature,
metrics and model card each .mar carries). Model names from clients are only ever looked up here, so a
name can never become a path or a URL."""

import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from serving.gateway.core.errors import ModelNotFound
from serving.gateway.core.kinds import ModelKind, TensorSpec, UnknownKind, kind_of


@dataclass(frozen=True)
class ModelEntry:
    """One served model, as its archive describes it."""

    name: str
    kind: str
    version: str
    signature: dict[str, Any]
    metrics: dict[str, Any]
    card: str
    model_kind: ModelKind = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Looked up once, here: an archive of a kind the gateway cannot serve stops the start-up (UnknownKind).
        object.__setattr__(self, "model_kind", kind_of(self.kind))

    @cached_property
    def contract(self) -> tuple[list[TensorSpec], list[TensorSpec]]:
        """(inputs, outputs) of the model's v2 contract, built at the first request that needs it."""
        return self.model_kind.contract(self.signature)

    def example(self) -> dict[str, Any]:
        """A valid v1 request body for this model."""
        return self.model_kind.example(self.signature)


class Catalog:
    """The models in the store, by name."""

    def __init__(self, entries: list[ModelEntry]) -> None:
        self._entries = {entry.name: entry for entry in sorted(entries, key=lambda e: e.name)}

    @classmethod
    def from_store(cls, store: Path) -> "Catalog":
        """Read every .mar in the store; UnknownKind names the first archive of a kind the gateway cannot serve."""
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
    try:
        return ModelEntry(signature["name"], signature["kind"], str(signature["version"]), signature, metrics, card)
    except UnknownKind as error:
        raise UnknownKind(f"{path.name}: {error}") from None
