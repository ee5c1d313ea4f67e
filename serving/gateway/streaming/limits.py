"""The bounds every stream lives within: how many may be open, how long one may idle, how its chunks are sized."""

from dataclasses import dataclass, field

from serving.gateway.core.errors import Overloaded
from serving.gateway.settings import GatewaySettings
from serving.gateway.streaming.cohort import Cohorts
from serving.gateway.streaming.metrics import StreamMetrics


@dataclass(frozen=True)
class StreamLimits:
    """From the gateway's settings (GATEWAY_STREAM_*)."""

    max_streams: int
    idle_timeout_s: float
    first_tokens: int
    chunk_tokens: int
    shared_chunk_tokens: int

    @classmethod
    def of(cls, settings: GatewaySettings) -> "StreamLimits":
        """The limits the settings give."""
        return cls(settings.gateway_stream_max_streams, settings.gateway_stream_idle_timeout_s,
                   settings.gateway_stream_first_tokens, settings.gateway_stream_chunk_tokens,
                   settings.gateway_stream_shared_chunk_tokens)

    def next_chunk(self, made: int, left: int, open_streams: int) -> int:
        """How many tokens the next chunk asks for, `made` having been made and `left` being left: a small first
        chunk; then large ones for a stream alone (each chunk costs a call to TorchServe) and smaller ones
        while streams share the worker (a call carries them all, and a new stream's first chunk waits for it)."""
        if made == 0:
            return min(self.first_tokens, left)
        return min(self.chunk_tokens if open_streams <= 1 else self.shared_chunk_tokens, left)


class StreamSlots:
    """At most `limit` streams open at once; one more is refused at once (429 with Retry-After), never queued:
    a queued stream would hold its client's connection while its time to first token grew."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0

    def take(self) -> None:
        """Count one more open stream, or raise Overloaded."""
        if self.open >= self.limit:
            raise Overloaded(f"{self.limit} streams are open, the most the gateway allows; retry shortly")
        self.open += 1

    def give_back(self) -> None:
        """A stream ended."""
        self.open -= 1


@dataclass
class StreamHub:
    """What every stream of the gateway shares: its limits, the open-stream count, the metrics and the cohorts
that align the steps of each model's streams (streaming/cohort.py)."""

    limits: StreamLimits
    slots: StreamSlots
    metrics: StreamMetrics
    cohorts: Cohorts = field(default_factory=Cohorts)
