"""The rollout manifests: KServe's canary overlay, and the gateway's traffic policy as a ConfigMap it reloads."""

from __future__ import annotations

from pathlib import PurePosixPath

from serving.gateway.core.lifecycle.policy_file import loads
from tests.unit.deploy.manifests import container, container_env, find, render
from training import registry


def test_the_kserve_canary_sends_a_share_to_the_candidate_in_serverless_mode() -> None:
    stable = find(render("kserve"), "InferenceService", "torchserve-stack")
    canary = find(render("kserve-canary"), "InferenceService", "torchserve-stack")
    assert canary["spec"]["predictor"]["canaryTrafficPercent"] == 10
    assert "canaryTrafficPercent" not in stable["spec"]["predictor"]
    assert canary["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Serverless"
    assert canary["spec"]["predictor"]["model"]["storageUri"] != stable["spec"]["predictor"]["model"]["storageUri"]
    stable_model = {k: v for k, v in stable["spec"]["predictor"]["model"].items() if k != "storageUri"}
    assert {k: v for k, v in canary["spec"]["predictor"]["model"].items() if k != "storageUri"} == stable_model


def test_the_gateway_reads_its_traffic_policy_from_a_configmap_mounted_as_a_directory() -> None:
    for overlay in ("overlays/cpu", "overlays/gpu"):
        objects = render(overlay)
        policy_file = PurePosixPath(container_env(objects, "gateway")["GATEWAY_POLICY_FILE"])
        mounts = {m["name"]: m for m in container(objects, "gateway")["volumeMounts"]}
        mount = mounts["traffic-policy"]
        assert "subPath" not in mount, "a subPath mount never sees the ConfigMap's updates"
        assert policy_file.parent == PurePosixPath(mount["mountPath"])
        volumes = find(objects, "Deployment", "gateway")["spec"]["template"]["spec"]["volumes"]
        [volume] = [v for v in volumes if v["name"] == "traffic-policy"]
        configmap = find(objects, "ConfigMap", volume["configMap"]["name"])
        assert configmap["metadata"]["name"] == "gateway-traffic-policy", "a hash suffix would need a rollout"
        known = {name: {registry.get(name).version} for name in registry.names()}
        assert loads(configmap["data"][policy_file.name].encode(), known).models == {}
