"""The plain-Kubernetes canary (k8s/components/canary, through k8s/overlays/gpu-canary and cpu-canary): a second
model-server Deployment like the stable one, reached by the gateway for the candidate's version only, inside the
same boundary, with the traffic policy the rollout starts from."""

from __future__ import annotations

import copy
import re
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest

from serving.gateway.core.lifecycle.policy_file import loads
from serving.gateway.settings import GatewaySettings
from serving.modelserver.settings import ModelServerSettings
from tests.unit.deploy.manifests import container, container_env, find, render
from training import registry

CANARIES = {"overlays/gpu-canary": "overlays/gpu", "overlays/cpu-canary": "overlays/cpu"}
CANDIDATE = ("mlp_classifier", "1.1")
STABLE, CANARY = "model-server", "model-server-canary"


def pod(objects: tuple[dict[str, Any], ...], name: str) -> dict[str, Any]:
    return dict(find(objects, "Deployment", name)["spec"]["template"])


def labels(objects: tuple[dict[str, Any], ...], name: str) -> dict[str, str]:
    return dict(pod(objects, name)["metadata"]["labels"])


def selects(selector: dict[str, str], pod_labels: dict[str, str]) -> bool:
    return selector.items() <= pod_labels.items()


@pytest.mark.parametrize(("overlay", "plain"), CANARIES.items())
def test_the_canary_pod_is_the_stable_pod_but_for_its_labels_config_and_image(overlay: str, plain: str) -> None:
    objects = render(overlay)
    stable, canary = copy.deepcopy(pod(objects, STABLE)), copy.deepcopy(pod(objects, CANARY))
    assert pod(render(plain), STABLE) == stable, "the canary overlay leaves the stable model server as it was"
    for spec, component, config in ((stable, STABLE, "model-server-config"),
                                    (canary, CANARY, "model-server-canary-config")):
        assert spec["metadata"]["labels"]["app.kubernetes.io/component"] == component
        spec["metadata"]["labels"].pop("app.kubernetes.io/component")
        spec["spec"]["topologySpreadConstraints"][0]["labelSelector"]["matchLabels"].pop(
            "app.kubernetes.io/component")
        container_spec = spec["spec"]["containers"][0]
        (source,) = container_spec.pop("envFrom")
        assert source["configMapRef"]["name"].startswith(f"{config}-")
        container_spec["image"] = container_spec["image"].rpartition(":")[0]
    assert canary == stable  # probes, ports, resources, security context, volumes: all alike
    stable_tag = container(objects, STABLE)["image"].rpartition(":")[2]
    canary_tag = container(objects, CANARY)["image"].rpartition(":")[2]
    assert (stable_tag, canary_tag) == (("0.1.0", "0.1.1") if plain == "overlays/gpu" else ("0.1.0-cpu", "0.1.1-cpu"))
    assert container(objects, "gateway")["image"].endswith(":0.1.1")  # its store has both versions' archives
    deployment = find(objects, "Deployment", CANARY)
    assert deployment["spec"]["replicas"] == 1
    assert deployment["metadata"]["namespace"] == "torchserve-stack"


@pytest.mark.parametrize("overlay", CANARIES)
def test_the_canary_loads_only_the_candidates_archive_with_the_stable_settings(overlay: str) -> None:
    objects = render(overlay)
    stable, canary = container_env(objects, STABLE), container_env(objects, CANARY)
    name, version = CANDIDATE
    assert canary == {**stable, "TS_MODELS": f"{name}-{version}.mar"}  # serving/archive/builder.py's file name
    ModelServerSettings.model_validate({k.lower(): v for k, v in canary.items()})


@pytest.mark.parametrize("overlay", CANARIES)
def test_the_gateway_sends_only_the_candidates_version_to_the_canary_service(overlay: str) -> None:
    objects = render(overlay)
    env = container_env(objects, "gateway")
    settings = GatewaySettings.model_validate({**{k.lower(): v for k, v in env.items()
                                                  if k != "GATEWAY_API_KEYS_FILE"}, "gateway_api_keys": "k" * 32})
    (target, url), = settings.gateway_torchserve_version_urls.items()
    assert target == "/".join(CANDIDATE)
    service = find(objects, "Service", CANARY)
    inference = next(p for p in service["spec"]["ports"] if p["targetPort"] == "inference")
    assert (urlsplit(url).hostname, urlsplit(url).port) == (service["metadata"]["name"], inference["port"])
    assert urlsplit(env["GATEWAY_TORCHSERVE_URL"]).hostname == STABLE


@pytest.mark.parametrize("overlay", CANARIES)
def test_each_service_and_budget_selects_its_own_pods_only(overlay: str) -> None:
    objects = render(overlay)
    stable, canary = labels(objects, STABLE), labels(objects, CANARY)
    for service, own, other in ((STABLE, stable, canary), (CANARY, canary, stable)):
        selector = find(objects, "Service", service)["spec"]["selector"]
        assert selects(selector, own)
        assert not selects(selector, other), f"Service/{service} would send requests to the other version's pods"
    for kind in ("PodDisruptionBudget", "NetworkPolicy"):
        selector = find(objects, kind, STABLE)["spec"].get("selector", find(objects, kind, STABLE)["spec"].get(
            "podSelector"))["matchLabels"]
        assert not selects(selector, canary)
    assert find(objects, "HorizontalPodAutoscaler", STABLE)["spec"]["scaleTargetRef"]["name"] == STABLE
    monitor = find(objects, "ServiceMonitor", CANARY)["spec"]["selector"]["matchLabels"]
    assert selects(monitor, find(objects, "Service", CANARY)["metadata"]["labels"])


@pytest.mark.parametrize("overlay", CANARIES)
def test_the_canary_sits_inside_the_stable_boundary_and_the_gateway_may_reach_it(overlay: str) -> None:
    objects = render(overlay)
    stable = find(objects, "NetworkPolicy", STABLE)["spec"]
    canary = find(objects, "NetworkPolicy", CANARY)["spec"]
    assert selects(canary["podSelector"]["matchLabels"], labels(objects, CANARY))
    assert {k: v for k, v in canary.items() if k != "podSelector"} == {
        k: v for k, v in stable.items() if k != "podSelector"}
    egress = find(objects, "NetworkPolicy", "gateway")["spec"]["egress"]
    reach = [rule for rule in egress if any(selects(peer.get("podSelector", {}).get("matchLabels", {"-": "-"}),
                                                    labels(objects, CANARY)) for peer in rule["to"])]
    assert [rule["ports"] for rule in reach] == [[{"port": "inference", "protocol": "TCP"}]]
    plain_egress = find(render(CANARIES[overlay]), "NetworkPolicy", "gateway")["spec"]["egress"]
    assert egress == [*plain_egress, *reach]  # what the gateway reached before, and the canary's inference port


@pytest.mark.parametrize("overlay", CANARIES)
def test_the_rollout_starts_on_1_0_and_the_documented_edits_are_valid_policies(overlay: str) -> None:
    objects = render(overlay)
    policy_file = PurePosixPath(container_env(objects, "gateway")["GATEWAY_POLICY_FILE"])
    configmap = find(objects, "ConfigMap", "gateway-traffic-policy")
    text = configmap["data"][policy_file.name]
    known = {name: {registry.get(name).version} for name in registry.names()}
    known["mlp_classifier"] = {"1.0", "1.1"}
    assert loads(text.encode(), known).to_dict()["models"] == {"mlp_classifier": {"default": "1.0"}}
    line = '\n    default: "1.0"\n'  # the policy's line (the comments above it quote it too)
    assert text.count(line) == 1
    canary = text.replace(line, line + '    canary: {version: "1.1", percent: 10}\n')
    assert loads(canary.encode(), known).to_dict()["models"] == {
        "mlp_classifier": {"default": "1.0", "canary": {"version": "1.1", "percent": 10.0}}}
    promoted = text.replace(line, line.replace("1.0", "1.1"))
    assert loads(promoted.encode(), known).to_dict()["models"] == {"mlp_classifier": {"default": "1.1"}}


@pytest.mark.parametrize(("overlay", "plain"), CANARIES.items())
def test_the_documented_delete_by_label_removes_exactly_what_the_canary_added(overlay: str, plain: str) -> None:
    def names(objects: tuple[dict[str, Any], ...]) -> set[tuple[str, str]]:  # without kustomize's hash suffixes
        return {(obj["kind"], re.sub(r"-[a-z0-9]{10}$", "", obj["metadata"]["name"]) if obj["kind"] == "ConfigMap"
                 else obj["metadata"]["name"]) for obj in objects}

    objects = render(overlay)
    labelled = names(tuple(obj for obj in objects
                           if obj["metadata"].get("labels", {}).get("app.kubernetes.io/component") == CANARY))
    assert {kind for kind, _ in labelled} == {"Deployment", "Service", "NetworkPolicy", "ServiceMonitor", "ConfigMap"}
    assert labelled == names(objects) - names(render(plain))
