"""The gRPC front-end's one way into the inference step, so that pointing it at another is a change here only."""

from __future__ import annotations

from serving.gateway.catalog import ModelEntry
from serving.gateway.routes_v2 import infer_outputs
from serving.gateway.state import GatewayState
from serving.gateway.v2codec import InferRequest, Tensor


async def infer(state: GatewayState, name: str, version: str | None, request: InferRequest,
                request_id: str) -> tuple[ModelEntry, list[Tensor]]:
    """The model's entry and its output tensors for `request`; GatewayError subclasses for every refusal."""
    entry = state.catalog.get(name, version)
    return entry, await infer_outputs(state, entry, request, request_id)
