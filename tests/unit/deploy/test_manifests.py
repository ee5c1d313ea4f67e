"""Every kustomization renders with `kubectl kustomize`, and every object it renders is valid: Kubernetes'
schemas for built-in kinds, the shipped CRD schema for ServiceMonitor, the kserve SDK for InferenceService."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import kubernetes_validate
import pytest

from tests.unit.deploy.manifests import KUSTOMIZATIONS, ROOT, find, render
from tests.unit.deploy.schemas import validate

ALL = [(k, i) for k in KUSTOMIZATIONS for i in range(len(render(k)))]


@pytest.mark.parametrize(("kustomization", "index"), ALL,
                         ids=[f"{k}:{render(k)[i]['kind']}/{render(k)[i]['metadata']['name']}" for k, i in ALL])
def test_rendered_object_is_valid(kustomization: str, index: int) -> None:
    validate(render(kustomization)[index])


def test_the_validators_reject_typos() -> None:
    deployment = copy.deepcopy(find(render("overlays/gpu"), "Deployment", "gateway"))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {"httpGet": {"path": "/readyz"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(deployment)
    monitor = copy.deepcopy(find(render("overlays/gpu"), "ServiceMonitor", "gateway"))
    monitor["spec"]["endpoints"][0]["intervall"] = "15s"
    with pytest.raises(jsonschema.ValidationError, match="intervall"):
        validate(monitor)
    isvc: dict[str, Any] = copy.deepcopy(find(render("kserve"), "InferenceService", "torchserve-stack"))
    isvc["spec"]["predictor"]["model"]["protocolVersoin"] = "v2"
    with pytest.raises(AssertionError, match="protocolVersoin: not a field of V1beta1ModelSpec"):
        validate(isvc)
    isvc["spec"]["predictor"]["model"].pop("protocolVersoin")
    isvc["spec"]["predictor"]["model"]["resources"]["limits"]["nvidia.com/gpu"] = 1
    with pytest.raises(AssertionError, match="expected str"):
        validate(isvc)


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_images_are_tagged_and_never_latest(kustomization: str) -> None:
    for obj in render(kustomization):
        for spec in obj.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
            name, _, tag = spec["image"].rpartition(":")
            assert name, spec["image"]
            assert tag not in ("", "latest"), f"{obj['metadata']['name']}: image {spec['image']!r}"


def test_gpu_overlay_asks_for_a_gpu_on_gpu_nodes_and_cpu_overlay_does_not() -> None:
    gpu = find(render("overlays/gpu"), "Deployment", "model-server")["spec"]["template"]["spec"]
    assert gpu["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert gpu["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in gpu["tolerations"]
    assert gpu["containers"][0]["image"].endswith(":0.1.0")
    cpu = find(render("overlays/cpu"), "Deployment", "model-server")["spec"]["template"]["spec"]
    assert "nvidia.com/gpu" not in cpu["containers"][0]["resources"].get("limits", {})
    assert "nodeSelector" not in cpu
    assert "tolerations" not in cpu
    assert cpu["containers"][0]["image"].endswith(":0.1.0-cpu")
    isvc = find(render("kserve"), "InferenceService", "torchserve-stack")["spec"]["predictor"]["model"]
    assert (isvc["runtime"], isvc["protocolVersion"], isvc["resources"]["limits"]["nvidia.com/gpu"]) == (
        "kserve-torchserve", "v2", "1")


@pytest.mark.parametrize("kustomization", ["overlays/cpu", "overlays/gpu", "overlays/cpu-canary", "overlays/gpu-canary",
                                           "loadtest"])
def test_every_pod_is_locked_down(kustomization: str) -> None:
    for obj in render(kustomization):
        if obj["kind"] != "Deployment":
            continue
        pod = obj["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False
        for spec in pod["containers"]:
            assert spec["securityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                               "capabilities": {"drop": ["ALL"]}}
            assert "memory" in spec["resources"]["limits"]
            assert "cpu" in spec["resources"]["requests"]
            # a read-only root needs somewhere to write: every mount is an emptyDir or a read-only secret/configMap
            volumes = {v["name"]: v for v in pod["volumes"]}
            for mount in spec["volumeMounts"]:
                volume = volumes[mount["name"]]
                assert "emptyDir" in volume or (
                    ("secret" in volume or "configMap" in volume) and mount.get("readOnly") is True)


def test_the_secret_example_is_not_applied_and_its_placeholder_cannot_start_a_gateway() -> None:
    for kustomization in KUSTOMIZATIONS:
        assert all(obj["kind"] != "Secret" for obj in render(kustomization))
    example = ROOT / "k8s/base/gateway/api-keys.example.yaml"
    import yaml

    from serving.gateway.settings import GatewaySettings

    keys = yaml.safe_load(example.read_text())["stringData"]["keys"].split()
    with pytest.raises(ValueError, match="at least 16 characters"):
        GatewaySettings(gateway_profile="production", gateway_host="0.0.0.0", gateway_api_keys=",".join(keys))
