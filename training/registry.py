"""The registry: one `ModelSpec` per curriculum model, the single source of truth for every model fact.

Export, archiving, handlers, the gateway, load tests and docs read a spec or the artifacts it produces
(`signature.json` carries the spec's facts into the artifact, and from there into the .mar archive).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from training.recipes.base import Recipe


class Kind(StrEnum):
    """What a model does; handlers and the gateway dispatch on it."""

    REGRESSION = "regression"
    TABULAR_CLASSIFICATION = "tabular-classification"
    IMAGE_CLASSIFICATION = "image-classification"
    TEXT_GENERATION = "text-generation"
    IMAGE_GENERATION = "image-generation"
    POLICY = "policy"


PROFILES = ("quick", "full")
# The runtimes a model can be exported to: TorchScript (model.pt, what TorchServe loads natively), torch.export +
# AOTInductor (model.pt2) and ONNX Runtime (model.onnx). docs/runtimes.md measures them.
RUNTIMES = ("torchscript", "aoti", "onnx")


@dataclass(frozen=True)
class TensorSpec:
    """One named input or output of the exported module. A string in `shape` is a dimension the data fixes
    (for example the number of features); -1 marks a free dimension, always the batch dimension first."""

    name: str
    dtype: str
    shape: tuple[int | str, ...]

    def resolve(self, dims: Mapping[str, int]) -> dict[str, Any]:
        """The JSON form with every named dimension replaced by its value."""
        try:
            shape = [d if isinstance(d, int) else int(dims[d]) for d in self.shape]
        except KeyError as missing:
            raise ValueError(f"tensor {self.name!r}: dimension {missing} was not provided") from None
        return {"name": self.name, "dtype": self.dtype, "shape": shape}


@dataclass(frozen=True)
class Floor:
    """The quality bar a model must clear on held-out data in the quick profile."""

    metric: str
    threshold: float
    higher_is_better: bool
    description: str

    def holds(self, value: float) -> bool:
        """Whether an achieved figure clears the bar."""
        return value >= self.threshold if self.higher_is_better else value <= self.threshold


@dataclass(frozen=True)
class ModelCard:
    """The prose of a model card; the figures come from the training run."""

    intended_use: str
    limitations: str
    ethics: str


@dataclass(frozen=True)
class ModelSpec:
    """Everything the pipeline knows about one model, written once."""

    name: str
    kind: Kind
    dataset: str
    summary: str
    chapter: str
    build: Callable[..., Any]
    recipe: Recipe
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    floor: Floor
    hparams: Mapping[str, Any]
    card: ModelCard
    hparams_source: str = "hand-set defaults"
    full_profile: Mapping[str, Any] = field(default_factory=dict)
    search_space: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    serving: Mapping[str, Any] = field(default_factory=dict)
    requires: tuple[str, ...] = ()
    # What tuning maximises (or minimises) when it should not be the floor's figure itself.
    tune_metric: str | None = None
    version: str = "1.0"
    runtimes: tuple[str, ...] = RUNTIMES
    # The runtime an archive serves unless told otherwise: docs/runtimes.md's "Defaults" pick for the model.
    default_runtime: str = "torchscript"
    # The inputs of the torch.export'ed part (model.pt2, model.onnx) where they are narrower than the TorchScript
    # module's, and why the rest stays in the handler (the model card says it).
    portable_inputs: tuple[TensorSpec, ...] = ()
    export_note: str = ""
    # The exported module's layers, untrained: (spec, dims, hyperparameters) → the module that model.pt's weights
    # load back into, so that an export added later (the explanation program) needs no retraining
    # (training/explanation.py). The recipe builds its module with the same function.
    skeleton: Callable[..., Any] | None = None

    def __post_init__(self) -> None:
        unknown = [r for r in self.runtimes if r not in RUNTIMES]
        if unknown or "torchscript" not in self.runtimes:
            raise ValueError(f"{self.name}: runtimes must include torchscript and come from {', '.join(RUNTIMES)}; "
                             f"got {', '.join(self.runtimes)}")
        if self.default_runtime not in self.runtimes:
            raise ValueError(f"{self.name}: default runtime {self.default_runtime!r} is not one of its runtimes")

    def hparams_for(self, profile: str, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Hyperparameters for a profile: the quick defaults, the full profile's changes, then overrides."""
        if profile not in PROFILES:
            raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
        merged = {**self.hparams, **(self.full_profile if profile == "full" else {})}
        unknown = set(overrides or {}) - set(merged)
        if unknown:
            raise ValueError(f"{self.name}: unknown hyperparameter(s) {', '.join(sorted(unknown))}")
        return {**merged, **(overrides or {})}


_REGISTRY: dict[str, ModelSpec] = {}


def register(spec: ModelSpec, *, replace: bool = False) -> ModelSpec:
    """Add a model to the registry (the bring-your-own-model entry point)."""
    _ensure_curriculum()  # the curriculum comes first, so its names are taken and its order kept
    if spec.name in _REGISTRY and not replace:
        raise ValueError(f"model {spec.name!r} is already registered")
    if not spec.name.isidentifier():
        raise ValueError(f"model name {spec.name!r} must be a Python identifier (letters, digits, _)")
    _REGISTRY[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    """Remove a model (tests that register toy models clean up with this)."""
    _REGISTRY.pop(name, None)


def get(name: str) -> ModelSpec:
    """The spec of a model, or a ValueError naming the known ones."""
    _ensure_curriculum()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(names())}") from None


def names() -> list[str]:
    """Every registered model, in training order (dependencies first)."""
    _ensure_curriculum()
    return list(_REGISTRY)


def _ensure_curriculum() -> None:
    # Imported lazily: the curriculum module registers the eight models on import.
    import training.curriculum  # noqa: F401
