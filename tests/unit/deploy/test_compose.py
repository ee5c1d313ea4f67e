"""compose.yaml parses and agrees with the images, the settings and the Kubernetes manifests."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from serving.modelserver.settings import ModelServerSettings
from tests.unit.deploy.manifests import ROOT, container_env, dockerfile_stages, render
from tests.unit.deploy.test_consistency import GATEWAY_ENV


class _ComposeLoader(yaml.SafeLoader):
    """YAML with compose's `!reset` tag (an override that clears a key)."""


_ComposeLoader.add_constructor("!reset", lambda loader, node: None)


def load(name: str) -> dict[str, Any]:
    data = yaml.load((ROOT / name).read_text(), Loader=_ComposeLoader)  # noqa: S506 (a SafeLoader subclass)
    assert isinstance(data, dict)
    return data


def services() -> dict[str, Any]:
    return dict(load("compose.yaml")["services"])


def test_services_and_targets() -> None:
    stack = services()
    assert set(stack) == {"model-server", "gateway", "prometheus", "grafana"}
    stages = dockerfile_stages()
    for name in ("model-server", "gateway"):
        assert stack[name]["build"]["target"] in stages
        assert stack[name]["read_only"] is True
        assert stack[name]["cap_drop"] == ["ALL"]
    reservation = stack["model-server"]["deploy"]["resources"]["reservations"]["devices"]
    assert reservation == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
    assert stack["model-server"]["build"]["args"]["VARIANT"] == "cuda"
    cpu = load("compose.cpu.yaml")["services"]["model-server"]
    assert cpu["build"]["args"]["VARIANT"] == "cpu"
    assert cpu["deploy"] is None


def test_environment_matches_the_settings_and_kubernetes() -> None:
    stack = services()
    model_server = {k: str(v) for k, v in stack["model-server"]["environment"].items()}
    gateway = {k: str(v) for k, v in stack["gateway"]["environment"].items()}
    assert {k.upper() for k in ModelServerSettings.model_fields} >= set(model_server)
    assert set(gateway) <= GATEWAY_ENV  # the settings, and the OpenTelemetry SDK's own variables
    kubernetes = container_env(render("overlays/gpu"), "model-server")
    for name in ("TS_PROFILE", "TS_BIND_HOST", "TS_MANAGEMENT_BIND_HOST", "TS_TOKEN_AUTH", "TS_INFERENCE_PORT",
                 "TS_METRICS_PORT"):
        assert model_server[name] == kubernetes[name], name
    settings = ModelServerSettings.model_validate({k.lower(): v for k, v in model_server.items()})
    upstream = urlsplit(gateway["GATEWAY_TORCHSERVE_URL"])
    assert (upstream.hostname, upstream.port) == ("model-server", settings.ts_inference_port)
    assert str(settings.ts_inference_port) in stack["model-server"]["expose"]
    assert str(settings.ts_metrics_port) in stack["model-server"]["expose"]
    assert "ports" not in stack["model-server"]  # TorchServe is never published
    assert stack["gateway"]["ports"] == [f"127.0.0.1:{gateway[name]}:{gateway[name]}"
                                         for name in ("GATEWAY_PORT", "GATEWAY_GRPC_PORT")]
    gateway_kubernetes = container_env(render("overlays/gpu"), "gateway")
    assert (gateway["GATEWAY_PORT"], gateway["GATEWAY_GRPC_PORT"]) == (gateway_kubernetes["GATEWAY_PORT"],
                                                                       gateway_kubernetes["GATEWAY_GRPC_PORT"])
    assert gateway["GATEWAY_API_KEYS_FILE"] == "/run/secrets/gateway_api_keys"
    assert stack["gateway"]["depends_on"]["model-server"]["condition"] == "service_healthy"


def test_healthchecks_are_the_images() -> None:
    stack, stages = services(), dockerfile_stages()
    for name in ("model-server", "gateway"):
        test = stack[name]["healthcheck"]["test"]
        assert test == ["CMD", "python", "/opt/docker/healthcheck.py", name]
        assert f'["python", "/opt/docker/healthcheck.py", "{name}"]' in (stages[name].last("HEALTHCHECK") or "")


def test_prometheus_scrapes_both_and_grafana_gets_the_dashboard() -> None:
    stack = services()
    config = yaml.safe_load((ROOT / "docker/compose/prometheus.yml").read_text())
    targets = {job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]}
    model_server = ModelServerSettings.model_validate(
        {k.lower(): str(v) for k, v in stack["model-server"]["environment"].items()})
    assert targets == {"model-server": [f"model-server:{model_server.ts_metrics_port}"],
                       "gateway": [f"gateway:{stack['gateway']['environment']['GATEWAY_PORT']}"]}
    mounts = dict(volume.rsplit(":", 1)[0].split(":", 1) for volume in stack["grafana"]["volumes"])
    for source in mounts:
        assert (ROOT / source).exists(), source
    assert mounts["./k8s/base/monitoring/torchserve-stack.json"].startswith(
        yaml.safe_load((ROOT / "docker/compose/grafana/provisioning/dashboards/torchserve-stack.yaml").read_text())
        ["providers"][0]["options"]["path"])
    datasource = yaml.safe_load(
        (ROOT / "docker/compose/grafana/provisioning/datasources/prometheus.yaml").read_text())["datasources"][0]
    assert urlsplit(datasource["url"]).hostname == "prometheus"
    assert Path(stack["gateway"]["secrets"][0]).name == "gateway_api_keys"
