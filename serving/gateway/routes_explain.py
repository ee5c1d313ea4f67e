"""REST v1 explanations: `POST /v1/models/{name}/explain`, Integrated Gradients computed by the model's handler
through TorchServe's explanations API (handlers/explaining.py). Like predictions, the body goes to the handler
untouched and the handler's 4xx comes back as is."""

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from serving.gateway.catalog import Catalog, ModelEntry
from serving.gateway.errors import ROUTE_ERRORS, InvalidInput, ModelNotFound, UnsupportedMediaType
from serving.gateway.observability import current_request_id
from serving.gateway.security import read_body
from serving.gateway.state import State, require_key

EXPLAINED_KINDS = ("image-classification", "tabular-classification", "regression")
EXAMPLE_STEPS = 64


def router(catalog: Catalog) -> APIRouter:
    """The explain route, with one working OpenAPI example per explainable model in the catalog."""
    api = APIRouter(prefix="/v1", tags=["v1"], dependencies=[Depends(require_key)], responses=ROUTE_ERRORS)

    @api.post("/models/{name}/explain", summary="Explain a prediction: Integrated Gradients per pixel or feature",
              description=DESCRIPTION, openapi_extra=_docs(catalog), response_class=Response)
    async def explain(name: str, request: Request, state: State) -> Response:
        entry = explainable(state.catalog, name)
        content_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
        if content_type != "application/json":
            raise UnsupportedMediaType(f"explanations take application/json, not {content_type or 'nothing'}")
        body = await read_body(request, state.settings.gateway_max_body_bytes)
        if not body:
            raise InvalidInput("empty request body")
        async with state.admission.slot():
            result = await state.upstream.explain(entry.name, body, current_request_id())
        state.metrics.observe_upstream(entry.name, result.seconds)
        return Response(result.body, media_type=result.content_type)

    return api


def explainable(catalog: Catalog, name: str) -> ModelEntry:
    """The model, or 404 with the reason: unknown, or of a kind that has no explanations."""
    entry = catalog.get(name)
    if entry.kind not in EXPLAINED_KINDS:
        raise ModelNotFound(f"model {entry.name!r} is a {entry.kind} model; explanations are served for "
                            f"{', '.join(EXPLAINED_KINDS)} models")
    return entry


DESCRIPTION = """Captum's Integrated Gradients, run in the model's handler: the attributions of the predicted
class (or of `target`, a label or its index) for each pixel (`[H][W]`, colour channels summed) or each feature,
against a black image or a baseline row (`baseline`, all zeros by default). `steps` (1-256, default 64) sets the
integral's resolution; the answer's `convergence_delta` is sum(attributions) − (score − baseline_score), the
integral's error. One image, or up to 16 feature rows, per request."""


def _docs(catalog: Catalog) -> dict[str, Any]:
    examples = {m.name: {"summary": f"{m.name} ({m.kind})", "value": {**m.example(), "steps": EXAMPLE_STEPS}}
                for m in catalog if m.kind in EXPLAINED_KINDS}
    return {
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": {"type": "object"}, "examples": examples}}},
        "responses": {"200": {"description": "The attributions, the explained target and the scores",
                              "content": {"application/json": {"schema": {"type": "object"},
                                                               "example": RESPONSE_EXAMPLE}}}},
    }


RESPONSE_EXAMPLE = {"label": "class_1", "target": "class_1", "score": 0.96, "baseline_score": 0.99997,
                    "convergence_delta": -1.7e-05, "attributions": [0.012, -0.051, 0.0],
                    "feature_names": ["alcohol", "malic_acid", "ash"], "baseline": [0.0, 0.0, 0.0],
                    "method": "integrated_gradients", "steps": 64}
