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
from serving.versions import version_key


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
    """The models in the store, by name and version. Several versions of a model are served side by side; each
    model has a default version (the newest, until a traffic policy or an admin names another). The admin API
    adds and removes versions at run time; clients' names and versions are only ever keys into these dicts."""

    def __init__(self, entries: list[ModelEntry]) -> None:
        self._models: dict[str, dict[str, ModelEntry]] = {}
        self._defaults: dict[str, str] = {}
        for entry in entries:
            if entry.version in self._models.get(entry.name, {}):
                raise ValueError(f"two archives of {entry.name} version {entry.version} in the store")
            self.add(entry)
        for name in self._models:  # at start-up the newest version of each model answers by default
            self._defaults[name] = self.versions(name)[-1]

    @classmethod
    def from_store(cls, store: Path, loaded: str = "all") -> "Catalog":
        """Read the archives TorchServe loads at start (`loaded`: its TS_MODELS, "all" or a comma-separated list
        of `file.mar` or `name=file.mar`); the store's other archives wait for the admin API. UnknownKind names the
        first archive of a kind the gateway cannot serve."""
        if not store.is_dir():
            raise FileNotFoundError(f"model store {store} does not exist (run `make archive`)")
        if loaded.strip() == "all":
            return cls([read_archive(path) for path in sorted(store.glob("*.mar"))])
        files = [part.rpartition("=")[2].strip() for part in loaded.split(",") if part.strip()]
        return cls([read_archive(store / file) for file in files if "/" not in file and (store / file).is_file()])

    def get(self, name: str, version: str | None = None) -> ModelEntry:
        """The entry (the default version when `version` is None), or ModelNotFound (also for a version the
        model does not have)."""
        versions = self._models.get(name)
        if versions is None:
            raise ModelNotFound(f"model {name[:100]!r} not found")
        if version is None:
            return versions[self._defaults[name]]
        entry = versions.get(version)
        if entry is None:
            served = ", ".join(self.versions(name))
            raise ModelNotFound(f"model {name!r} has no version {version[:40]!r} (served: {served})")
        return entry

    def names(self) -> list[str]:
        """Every served model name, sorted."""
        return sorted(self._models)

    def versions(self, name: str) -> list[str]:
        """The model's served versions, oldest first (none for an unknown model)."""
        return sorted(self._models.get(name, {}), key=version_key)

    def count(self, name: str) -> int:
        """How many versions of the model are served (0 for an unknown model)."""
        return len(self._models.get(name, ()))

    def default_version(self, name: str) -> str:
        """The version that answers when neither the client nor the policy picks one."""
        self.get(name)
        return self._defaults[name]

    def known(self) -> dict[str, set[str]]:
        """Every model's set of versions (what a traffic policy is checked against)."""
        return {name: set(versions) for name, versions in self._models.items()}

    def add(self, entry: ModelEntry) -> None:
        """Serve one more version (or replace the same one). It becomes the default only of a model that had
        none: adding a candidate at run time never moves traffic by itself."""
        self._models.setdefault(entry.name, {})[entry.version] = entry
        self._defaults.setdefault(entry.name, entry.version)

    def set_default(self, name: str, version: str) -> None:
        """Make a served version the model's default."""
        self.get(name, version)
        self._defaults[name] = version

    def remove(self, name: str, version: str) -> None:
        """Stop serving one version; the model's last version cannot be removed, nor its default."""
        self.get(name, version)
        if len(self._models[name]) == 1:
            raise ValueError(f"{name} {version} is the model's only version")
        if self._defaults[name] == version:
            raise ValueError(f"{name} {version} is the model's default version; make another the default first")
        del self._models[name][version]

    def __iter__(self) -> Iterator[ModelEntry]:
        """One entry per model: its default version."""
        return iter([self.get(name) for name in self.names()])

    def entries(self) -> list[ModelEntry]:
        """Every served version of every model."""
        return [self._models[name][v] for name in self.names() for v in self.versions(name)]


def read_archive(path: Path) -> ModelEntry:
    """The entry an archive describes (its signature, metrics and model card)."""
    with zipfile.ZipFile(path) as archive:
        signature = json.loads(archive.read("signature.json"))
        metrics = json.loads(archive.read("metrics.json"))
        card = archive.read("model_card.md").decode("utf-8")
    try:
        return ModelEntry(signature["name"], signature["kind"], str(signature["version"]), signature, metrics, card)
    except UnknownKind as error:
        raise UnknownKind(f"{path.name}: {error}") from None
