"""One prediction through TorchServe, admitted, timed and counted: the step v1 and v2 share."""

from serving.gateway.catalog import ModelEntry
from serving.gateway.errors import ModelNotReady, UpstreamError, UpstreamTimeout, UpstreamUnavailable
from serving.gateway.state import GatewayState
from serving.gateway.upstream import UpstreamResponse


async def forward(state: GatewayState, entry: ModelEntry, body: bytes, content_type: str,
                  accept: str | None = None, request_id: str | None = None) -> UpstreamResponse:
    """Send one body to the model's handler under the admission limit; record latency and failures."""
    async with state.admission.slot():
        try:
            result = await state.batcher.predict(entry.name, body, content_type, accept, request_id)
        except UpstreamTimeout:
            state.metrics.upstream_error(entry.name, "timeout")
            raise
        except UpstreamUnavailable:
            state.metrics.upstream_error(entry.name, "unavailable")
            raise
        except (ModelNotReady, UpstreamError):
            state.metrics.upstream_error(entry.name, "bad_status")
            raise
    state.metrics.observe_upstream(entry.name, result.seconds)
    return result
