"""The model kinds the gateway serves, one `ModelKind` each, looked up once per model at start-up.

To add a kind: write its class in a file of this folder, list it in `KINDS`, and name its handler in
`handlers.HANDLERS` (which the archiver reads; the handlers may not import this package). The two tables must
name the same kinds, and the explainable ones must be `handlers.EXPLAINED_KINDS`, or importing this package fails.
"""

from handlers import EXPLAINED_KINDS, HANDLERS
from serving.gateway.core.kinds.base import ModelKind, Signature, TensorSpec
from serving.gateway.core.kinds.image_classification import ImageClassification
from serving.gateway.core.kinds.image_generation import ImageGeneration
from serving.gateway.core.kinds.policy import Policy
from serving.gateway.core.kinds.tabular import Regression, TabularClassification
from serving.gateway.core.kinds.text_generation import TextGeneration


class UnknownKind(ValueError):
    """A signature names a kind the gateway has no `ModelKind` for."""


def _registry(*kinds: ModelKind) -> dict[str, ModelKind]:
    registry = {kind.name: kind for kind in kinds}
    if set(registry) != set(HANDLERS):
        raise RuntimeError(f"the gateway's kinds {sorted(registry)} and handlers.HANDLERS {sorted(HANDLERS)} "
                           "must name the same kinds")
    explainable = {name for name, kind in registry.items() if kind.explainable}
    if explainable != EXPLAINED_KINDS:
        raise RuntimeError(f"the gateway's explainable kinds {sorted(explainable)} and handlers.EXPLAINED_KINDS "
                           f"{sorted(EXPLAINED_KINDS)} must name the same kinds")
    return registry


KINDS: dict[str, ModelKind] = _registry(Regression(), TabularClassification(), ImageClassification(),
                                        TextGeneration(), ImageGeneration(), Policy())


def kind_of(name: str) -> ModelKind:
    """The kind called `name`; UnknownKind (with the known ones) for any other."""
    kind = KINDS.get(name)
    if kind is None:
        raise UnknownKind(f"unknown model kind {name!r}; the gateway serves {', '.join(sorted(KINDS))}")
    return kind


__all__ = ["KINDS", "ModelKind", "Signature", "TensorSpec", "UnknownKind", "kind_of"]
