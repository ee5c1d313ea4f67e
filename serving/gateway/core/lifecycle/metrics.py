"""Metrics by model version: requests, latency and errors of each version, shadow verdicts, outages.

Label values come only from the catalog (served names and versions) and fixed sets, so their count stays bounded."""

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from serving.gateway.core.lifecycle.shadow import Verdict

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class VersionMetrics:
    """The lifecycle's series, in the gateway's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter("gateway_version_requests_total", "Predictions answered, by model version.",
                                ["model", "version", "outcome"], registry=registry)
        self.latency = Histogram("gateway_version_latency_seconds", "Time a model version took to answer.",
                                 ["model", "version"], buckets=LATENCY_BUCKETS, registry=registry)
        self.shadow = Counter("gateway_shadow_total", "Shadow copies by verdict: agree, disagree, error, skipped.",
                              ["model", "version", "verdict"], registry=registry)
        self.outage = Gauge("gateway_model_outage", "1 while a model has no live worker (its requests get 503 after "
                            "the outage budget).", ["model"], registry=registry)
        self._series: dict[tuple[str, str], tuple[Any, Any, Any]] = {}
        self.policy_refused = Counter("gateway_policy_refused_total", "Traffic policy files refused as invalid.",
                                      registry=registry)

    def answered(self, model: str, version: str, ok: bool, seconds: float) -> None:
        """One prediction by `version`: its outcome and, when it succeeded, its latency."""
        series = self._series.get((model, version))
        if series is None:  # labels() is a locked dict lookup per call: kept once per version instead
            series = (self.requests.labels(model, version, "ok"), self.requests.labels(model, version, "error"),
                      self.latency.labels(model, version))
            self._series[(model, version)] = series
        if ok:
            series[0].inc()
            series[2].observe(seconds)
        else:
            series[1].inc()

    def shadow_verdict(self, model: str, version: str, verdict: Verdict) -> None:
        """One shadow copy's verdict."""
        self.shadow.labels(model, version, verdict).inc()

    def outage_changed(self, model: str, down: bool) -> None:
        """The outage gauge follows the gate."""
        self.outage.labels(model).set(1 if down else 0)
