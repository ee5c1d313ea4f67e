"""Example requests for each served model, built from its signature.json: for the docs, `make serve`'s
sample curls and the gateway's model pages. The signature carries one held-out input in model terms; the
model's kind (serving/gateway/core/kinds/) turns it into the handler's JSON."""

from typing import Any

from serving.gateway.core.kinds import kind_of
from serving.gateway.core.kinds.image_classification import png


def example_request(signature: dict[str, Any]) -> dict[str, Any]:
    """A valid JSON request body for the model's handler (UnknownKind for a kind the gateway does not serve)."""
    return kind_of(signature["kind"]).example(signature)


__all__ = ["example_request", "png"]
