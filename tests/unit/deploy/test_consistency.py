"""The manifests against the code: env var names are settings fields, container ports are the ports those
settings name, probe paths are routes the servers have, and the images run what the local stack runs."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from fastapi.routing import APIRoute
from opentelemetry.sdk import environment_variables as otel_variables

from serving.gateway.frontends import health
from serving.gateway.settings import GatewaySettings
from serving.modelserver.cli import build_parser
from serving.modelserver.settings import ModelServerSettings
from tests.servers import PORT_FIELDS
from tests.unit.deploy.manifests import container, container_env, dockerfile_stages, find, named_port, render

MODEL_SERVER_ENV = {name.upper() for name in ModelServerSettings.model_fields}
# The gateway's settings, and the OpenTelemetry SDK's own variables (endpoint, headers, sampler ...: the SDK reads them)
GATEWAY_ENV = {name.upper() for name in GatewaySettings.model_fields} | {
    name for name in dir(otel_variables) if name.startswith("OTEL_")}
OVERLAYS = ("overlays/cpu", "overlays/gpu", "overlays/cpu-canary", "overlays/gpu-canary")


def health_paths() -> set[str]:
    return {route.path for route in health.router().routes if isinstance(route, APIRoute)}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_env_var_names_are_settings_fields_and_values_are_valid(overlay: str) -> None:
    objects = render(overlay)
    model_server, gateway = container_env(objects, "model-server"), container_env(objects, "gateway")
    assert set(model_server) <= MODEL_SERVER_ENV, set(model_server) - MODEL_SERVER_ENV
    assert set(gateway) <= GATEWAY_ENV, set(gateway) - GATEWAY_ENV
    # the values pass the settings' own validators (the key file is a mounted Secret, absent here)
    settings = ModelServerSettings.model_validate({k.lower(): v for k, v in model_server.items()})
    assert (settings.ts_token_auth, settings.private_host) == (False, "127.0.0.1")
    values = {k.lower(): v for k, v in gateway.items() if k != "GATEWAY_API_KEYS_FILE"}
    GatewaySettings.model_validate({**values, "gateway_api_keys": "k" * 32})


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_model_server_ports_and_probes(overlay: str) -> None:
    objects = render(overlay)
    spec = container(objects, "model-server")
    settings = ModelServerSettings.model_validate(
        {k.lower(): v for k, v in container_env(objects, "model-server").items()})
    assert named_port(spec, "inference") == settings.ts_inference_port
    assert named_port(spec, "metrics") == settings.ts_metrics_port
    # the management API and gRPC are never a container port, and never in the Service
    private = {settings.ts_management_port, settings.ts_grpc_inference_port, settings.ts_grpc_management_port}
    assert not private & {port["containerPort"] for port in spec["ports"]}
    service = find(objects, "Service", "model-server")["spec"]
    assert service["type"] == "ClusterIP"
    assert {port["targetPort"] for port in service["ports"]} == {"inference", "metrics"}
    for probe in ("startupProbe", "readinessProbe"):
        assert spec[probe]["httpGet"] == {"path": "/ping", "port": "inference"}
    assert spec["livenessProbe"]["tcpSocket"] == {"port": "inference"}
    assert build_parser().parse_args(spec["args"]).command == "run"  # a command the runtime's CLI has


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_gateway_ports_probes_and_upstream(overlay: str) -> None:
    objects = render(overlay)
    spec, env = container(objects, "gateway"), container_env(objects, "gateway")
    assert named_port(spec, "http") == int(env["GATEWAY_PORT"])
    assert named_port(spec, "grpc") == int(env["GATEWAY_GRPC_PORT"])
    assert spec["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "http"}
    # readiness through grpc.health.v1 on the gRPC port (a grpc probe's port is a number; "" = the whole server)
    assert spec["readinessProbe"]["grpc"] == {"port": int(env["GATEWAY_GRPC_PORT"])}
    assert {"/livez", "/readyz"} <= health_paths()
    # the gateway reaches TorchServe through the model server's Service, on its inference port
    upstream = urlsplit(env["GATEWAY_TORCHSERVE_URL"])
    service = find(objects, "Service", "model-server")
    inference = next(p for p in service["spec"]["ports"] if p["targetPort"] == "inference")
    assert (upstream.hostname, upstream.port) == (service["metadata"]["name"], inference["port"])
    # the key file is where the Secret is mounted
    mount = next(m for m in spec["volumeMounts"] if m["name"] == "api-keys")
    assert env["GATEWAY_API_KEYS_FILE"] == f"{mount['mountPath']}/keys"


def test_network_policy_lets_only_the_gateway_reach_inference() -> None:
    objects = render("overlays/gpu")
    policy = find(objects, "NetworkPolicy", "model-server")["spec"]
    model_server_labels = find(objects, "Deployment", "model-server")["spec"]["template"]["metadata"]["labels"]
    gateway_labels = find(objects, "Deployment", "gateway")["spec"]["template"]["metadata"]["labels"]
    assert policy["podSelector"]["matchLabels"].items() <= model_server_labels.items()
    assert not policy["podSelector"]["matchLabels"].items() <= gateway_labels.items()
    by_port = {rule["ports"][0]["port"]: rule["from"] for rule in policy["ingress"]}
    assert set(by_port) == {"inference", "metrics"}
    (source,) = by_port["inference"]
    assert source["podSelector"]["matchLabels"].items() <= gateway_labels.items()
    assert "namespaceSelector" not in source  # the gateway of this namespace only
    egress = find(objects, "NetworkPolicy", "gateway")["spec"]["egress"]
    assert egress[0]["to"][0]["podSelector"]["matchLabels"].items() <= model_server_labels.items()
    assert egress[0]["ports"] == [{"port": "inference", "protocol": "TCP"}]


def test_autoscalers_and_disruption_budgets_target_the_deployments() -> None:
    objects = render("overlays/gpu")
    for name in ("model-server", "gateway"):
        hpa = find(objects, "HorizontalPodAutoscaler", name)["spec"]
        assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        labels = find(objects, "Deployment", name)["spec"]["template"]["metadata"]["labels"]
        pdb = find(objects, "PodDisruptionBudget", name)["spec"]
        assert pdb["selector"]["matchLabels"].items() <= labels.items()
        assert pdb["minAvailable"] < hpa["minReplicas"]  # a drain can always evict one pod
    cpu = find(objects, "HorizontalPodAutoscaler", "gateway")["spec"]["metrics"]
    assert cpu == [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization",
                                                                               "averageUtilization": 70}}}]


def test_images_run_what_the_local_stack_runs() -> None:
    stages = dockerfile_stages()
    model_server, gateway = stages["model-server"], stages["gateway"]
    # the runtime of `make serve` / `python -m serving.modelserver start`, in the foreground, under tini
    assert model_server.exec_form("ENTRYPOINT") == ["/usr/bin/tini", "--", "python", "-m", "serving.modelserver"]
    assert model_server.exec_form("CMD") == ["run"] == container(render("overlays/gpu"), "model-server")["args"]
    # exactly what tests/servers.py's gateway_process runs
    assert gateway.exec_form("ENTRYPOINT") == ["python", "-m", "serving.gateway"]
    assert "args" not in container(render("overlays/gpu"), "gateway")
    for stage, target in ((model_server, "model-server"), (gateway, "gateway")):
        assert stage.last("USER") == "10001"
        assert stage.last("HEALTHCHECK") is not None
        assert f'"/opt/docker/healthcheck.py", "{target}"]' in (
            stage.last("HEALTHCHECK") or "")
    env = dict(part.split("=", 1) for part in (model_server.last("ENV") or "").split() if "=" in part)
    assert env["TS_MODEL_STORE"] == "/opt/model-store"
    mounts = {m["mountPath"] for m in container(render("overlays/gpu"), "model-server")["volumeMounts"]}
    assert env["TS_HOME"] in mounts  # TorchServe's working directory is writable under a read-only root


def test_test_helpers_cover_every_port_setting() -> None:
    assert set(PORT_FIELDS) == set(ModelServerSettings().ports())


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_gateway_service_and_network_policy_carry_rest_and_grpc(overlay: str) -> None:
    objects = render(overlay)
    spec = container(objects, "gateway")
    service = {port["name"]: port for port in find(objects, "Service", "gateway")["spec"]["ports"]}
    assert set(service) == {"http", "grpc"}
    for name, port in service.items():
        assert port["targetPort"] == name
        assert port["port"] == named_port(spec, name)
    assert service["grpc"]["appProtocol"] == "kubernetes.io/h2c"
    ingress = find(objects, "NetworkPolicy", "gateway")["spec"]["ingress"]
    assert ingress == [{"ports": [{"port": "http", "protocol": "TCP"}, {"port": "grpc", "protocol": "TCP"}]}]


def test_the_gateway_image_exposes_the_ports_of_its_deployment() -> None:
    spec = container(render("overlays/gpu"), "gateway")
    exposed = dockerfile_stages()["gateway"].last("EXPOSE")
    assert exposed is not None
    assert sorted(map(int, exposed.split())) == sorted(port["containerPort"] for port in spec["ports"])
