"""The dashboard and the autoscaling metric name only series the gateway and TorchServe export; the adapter
rule scales on a rate. (tests/integration/deploy/ checks the TorchServe names against a live scrape.)"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from serving.gateway.observability import GatewayMetrics
from tests.unit.deploy.manifests import K8S, find, render

# What TorchServe 0.12 exports in prometheus mode (ts/configs/metrics.yaml), plus the handlers' BatchSize.
TORCHSERVE_METRICS = frozenset({"ts_inference_requests_total", "ts_inference_latency_microseconds",
                                "ts_queue_latency_microseconds", "BatchSize", "GPUMemoryUsed"})
PROMQL_WORDS = frozenset({"sum", "by", "rate", "max", "histogram_quantile", "le", "model", "status", "reason",
                          "model_name", "ModelName", "Hostname", "DeviceId", "pod", "e6"})


def dashboard() -> dict[str, Any]:
    return dict(json.loads((K8S / "base/monitoring/torchserve-stack.json").read_text()))


def metric_names(expr: str) -> set[str]:
    """The series names an expression reads (label matchers, functions and label names removed)."""
    bare = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\"[^\"]*\"", " ", expr)
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", bare)) - PROMQL_WORDS
    return {re.sub(r"_(bucket|sum|count)$", "", word) for word in words}


def gateway_metric_names() -> set[str]:
    names = set()
    for family in GatewayMetrics(["m"]).registry.collect():
        names.add(family.name + ("_total" if family.type == "counter" else ""))
    return names


def test_every_dashboard_series_is_exported() -> None:
    exported = gateway_metric_names() | TORCHSERVE_METRICS
    used = set()
    for panel in dashboard()["panels"]:
        for target in panel["targets"]:
            used |= metric_names(target["expr"])
    assert used <= exported, used - exported
    assert {"gateway_requests_total", "gateway_request_duration_seconds", "gateway_upstream_errors_total",
            "ts_queue_latency_microseconds", "BatchSize", "GPUMemoryUsed"} <= used


def test_dashboard_covers_the_issue_panels() -> None:
    titles = " | ".join(panel["title"] for panel in dashboard()["panels"]).lower()
    for needed in ("requests per second", "p50", "p99", "errors", "queue time", "batch size", "gpu memory"):
        assert needed in titles, needed
    assert all(target["datasource"]["uid"] == "${datasource}" for panel in dashboard()["panels"]
               for target in panel["targets"])


def test_the_model_server_autoscales_on_the_adapter_rule_and_the_rule_uses_a_rate() -> None:
    values = yaml.safe_load((K8S / "monitoring/prometheus-adapter-values.yaml").read_text())
    (rule,) = values["rules"]["custom"]
    hpa = find(render("overlays/gpu"), "HorizontalPodAutoscaler", "model-server")["spec"]
    assert hpa["metrics"][0]["pods"]["metric"]["name"] == rule["name"]["as"]
    series = re.match(r"([A-Za-z_]+)\{", rule["seriesQuery"])
    assert series is not None
    assert series.group(1) in TORCHSERVE_METRICS
    assert re.search(r"\brate\(<<\.Series>>\{<<\.LabelMatchers>>\}\[\d+m\]\)", rule["metricsQuery"])
    assert rule["resources"]["overrides"]["pod"] == {"resource": "pod"}


def test_servicemonitors_scrape_the_metrics_ports() -> None:
    objects = render("overlays/gpu")
    for name, port in (("model-server", "metrics"), ("gateway", "http")):
        (endpoint,) = find(objects, "ServiceMonitor", name)["spec"]["endpoints"]
        assert (endpoint["port"], endpoint["path"]) == (port, "/metrics")
        service_ports = {p["name"] for p in find(objects, "Service", name)["spec"]["ports"]}
        assert port in service_ports
    dashboard_map = find(objects, "ConfigMap", "grafana-dashboard-torchserve-stack")
    assert dashboard_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(dashboard_map["data"]["torchserve-stack.json"]) == dashboard()
