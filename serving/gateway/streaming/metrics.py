"""The streaming metrics, in the gateway's registry beside its request metrics (model labels bounded the same way)."""

from collections.abc import Callable
from typing import Final, Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# A chunk of the first stream arrives in milliseconds; one stuck behind fifteen others in a second or more.
TTFT_BUCKETS: Final = (0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
INTER_TOKEN_BUCKETS: Final = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5)
RATE_BUCKETS: Final = (10, 50, 100, 250, 500, 1000, 2500, 5000, 10000)

Outcome = Literal["completed", "cancelled", "failed"]


class StreamMetrics:
    """Time to first token and inter-token latency (histograms), tokens per second of each finished stream,
    tokens streamed, streams by outcome, and a gauge of the streams open now."""

    def __init__(self, registry: CollectorRegistry, model_label: Callable[[str | None], str]) -> None:
        self.model_label = model_label
        self.ttft = Histogram("gateway_stream_time_to_first_token_seconds", "From a stream's request to its first "
                              "chunk.", ["model"], buckets=TTFT_BUCKETS, registry=registry)
        self.inter_token = Histogram("gateway_stream_inter_token_seconds", "Time between a stream's chunks, per "
                                     "token of the later chunk.", ["model"], buckets=INTER_TOKEN_BUCKETS,
                                     registry=registry)
        self.rate = Histogram("gateway_stream_tokens_per_second", "Tokens per second of each completed stream, "
                              "from its request to its last chunk.", ["model"], buckets=RATE_BUCKETS,
                              registry=registry)
        self.tokens = Counter("gateway_stream_tokens_total", "Tokens sent in streams.", ["model"], registry=registry)
        self.streams = Counter("gateway_streams_total", "Streams ended, by outcome.", ["model", "outcome"],
                               registry=registry)
        self.active = Gauge("gateway_streams_active", "Streams open now.", registry=registry)

    def first_chunk(self, model: str, seconds: float, tokens: int) -> None:
        """The first chunk of a stream went out `seconds` after its request."""
        label = self.model_label(model)
        self.ttft.labels(label).observe(seconds)
        self.tokens.labels(label).inc(tokens)

    def next_chunk(self, model: str, gap_s: float, tokens: int) -> None:
        """A later chunk of `tokens` tokens went out `gap_s` after the one before."""
        label = self.model_label(model)
        self.inter_token.labels(label).observe(gap_s / tokens)
        self.tokens.labels(label).inc(tokens)

    def ended(self, model: str, outcome: Outcome, tokens: int, seconds: float) -> None:
        """A stream ended; a completed one records its tokens per second."""
        label = self.model_label(model)
        self.streams.labels(label, outcome).inc()
        if outcome == "completed" and seconds > 0:
            self.rate.labels(label).observe(tokens / seconds)
