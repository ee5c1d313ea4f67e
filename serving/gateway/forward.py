"""One prediction through TorchServe, admitted, timed and counted: the step v1 and v2 share. The lifecycle
(serving/gateway/lifecycle/runtime.py) has already picked the version; this calls it through the coalescer."""

from serving.gateway.catalog import ModelEntry
from serving.gateway.errors import ModelNotReady, UpstreamError, UpstreamTimeout, UpstreamUnavailable
from serving.gateway.state import GatewayState
from serving.gateway.upstream import UpstreamResponse


async def forward(state: GatewayState, entry: ModelEntry, body: bytes, content_type: str,
                  accept: str | None = None, request_id: str | None = None,
                  deadline: float | None = None) -> UpstreamResponse:
    """Send one body to the picked version's handler under the admission limit; record latency and failures."""
    name = entry.name
    async with state.admission.slot():
        try:
            result = await state.lifecycle.call(entry, state.batcher.predict, body, content_type, accept, request_id,
                                                deadline)
        except UpstreamTimeout:
            state.metrics.upstream_error(name, "timeout")
            raise
        except UpstreamUnavailable:
            state.metrics.upstream_error(name, "unavailable")
            raise
        except (ModelNotReady, UpstreamError):
            state.metrics.upstream_error(name, "bad_status")
            raise
    state.metrics.observe_upstream(name, result.seconds)
    return result
