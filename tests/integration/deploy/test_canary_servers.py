"""The plain-Kubernetes canary run as k8s/overlays/gpu-canary starts its containers: the stable model server (its
store: mlp_classifier 1.0), the canary model server (the candidate's store, loading mlp_classifier-1.1.mar only)
and the gateway (the candidate's store, both versions), each with its manifest's command and env on loopback ports.
The rollout's steps then hold on real TorchServes: the overlay's policy sends everything to 1.0 on the stable
server, a canary edit of the policy file sends the candidate's version to the canary server (REST and gRPC), and
the rollback edit sends everything back, with no restart."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import grpc
import httpx
import pytest

from serving.archive.builder import build
from serving.gateway.core.catalog import read_archive
from serving.gateway.frontends.grpc_v2 import inference_pb2 as pb
from tests.integration.deploy.test_manifest_servers import Running, image_command, process_env, stop, wait_for
from tests.servers import PORT_FIELDS, free_ports
from tests.unit.deploy.manifests import container, container_env, find, named_port, render

OVERLAY = "overlays/gpu-canary"
KEY = "canary-test-key-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {KEY}"}
CANARY_LINE = '    canary: {version: "1.1", percent: 100}\n'


@pytest.fixture(scope="module")
def stores(artifacts_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(stable, candidate): the stable image's store holds 1.0, the candidate's 1.0 and 1.1."""
    stable, candidate = tmp_path_factory.mktemp("stable-store"), tmp_path_factory.mktemp("candidate-store")
    build(artifacts_dir / "mlp_classifier", stable, "gpu")
    shutil.copy(stable / "mlp_classifier.mar", candidate)
    build(artifacts_dir / "mlp_classifier", candidate, "gpu", version="1.1")
    return stable, candidate


@contextmanager
def model_server(deployment: str, store: Path, folder: Path) -> Iterator[Running]:
    """`python -m serving.modelserver run` with the Deployment's args and env, ports and paths local."""
    objects = render(OVERLAY)
    spec, env = container(objects, deployment), container_env(objects, deployment)
    fields = [name.upper() for name in PORT_FIELDS]
    manifest_ports = {name: int(env.get(name, 0)) for name in fields}
    local = dict(zip(fields, free_ports(len(fields)), strict=True))
    env.update({**{k: str(v) for k, v in local.items()}, "TS_BIND_HOST": "127.0.0.1",
                "TS_MODEL_STORE": str(store), "TS_HOME": str(folder / "home")})
    log = folder / f"{deployment}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen([*image_command("model-server"), *spec["args"]], env=process_env(env),
                                   stdout=sink, stderr=subprocess.STDOUT, cwd=folder)
        running = Running(process, {manifest_ports[k]: local[k] for k in fields if manifest_ports[k]}, log, env)
        try:
            wait_for(running, spec, "startupProbe", 300)
            yield running
        finally:
            stop(running, 60)


@pytest.fixture(scope="module")
def stable(stores: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with model_server("model-server", stores[0], tmp_path_factory.mktemp("stable")) as running:
        yield running


@pytest.fixture(scope="module")
def canary(stores: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with model_server("model-server-canary", stores[1], tmp_path_factory.mktemp("canary")) as running:
        yield running


def local_url(manifest_url: str, running: Running) -> str:
    return running.url(int(urlsplit(manifest_url).port or 80), "")


@pytest.fixture(scope="module")
def gateway(stores: tuple[Path, Path], stable: Running, canary: Running,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Running, Path]]:
    """The gateway with the overlay's env; its Secret, its policy ConfigMap and the two Services are local."""
    objects = render(OVERLAY)
    spec, env = container(objects, "gateway"), container_env(objects, "gateway")
    folder = tmp_path_factory.mktemp("gateway")
    (folder / "keys").write_text(KEY + "\n")
    policy_name = Path(env["GATEWAY_POLICY_FILE"]).name
    policy = folder / policy_name
    policy.write_text(find(objects, "ConfigMap", "gateway-traffic-policy")["data"][policy_name])
    (target, manifest_canary), = (pair.split("=", 1) for pair in env["GATEWAY_TORCHSERVE_VERSION_URLS"].split(","))
    port, grpc_port = free_ports(2)
    env.update({"GATEWAY_HOST": "127.0.0.1", "GATEWAY_PORT": str(port), "GATEWAY_GRPC_PORT": str(grpc_port),
                "GATEWAY_MODEL_STORE": str(stores[1]), "GATEWAY_API_KEYS_FILE": str(folder / "keys"),
                "GATEWAY_POLICY_FILE": str(policy), "GATEWAY_POLICY_POLL_S": "0.2",
                "GATEWAY_TORCHSERVE_URL": local_url(env["GATEWAY_TORCHSERVE_URL"], stable),
                "GATEWAY_TORCHSERVE_VERSION_URLS": f"{target}={local_url(manifest_canary, canary)}"})
    log = folder / "gateway.log"
    with log.open("wb") as sink:
        process = subprocess.Popen([*image_command("gateway"), *spec.get("args", [])], env=process_env(env),
                                   stdout=sink, stderr=subprocess.STDOUT, cwd=folder)
        manifest_env = container_env(objects, "gateway")
        running = Running(process, {int(manifest_env["GATEWAY_PORT"]): port,
                                    int(manifest_env["GATEWAY_GRPC_PORT"]): grpc_port}, log, env)
        try:
            wait_for(running, spec, "readinessProbe", 120)
            yield running, policy
        finally:
            stop(running, 45)


def versions(http: httpx.Client, body: dict[str, object], count: int) -> set[str]:
    answers = [http.post("/v1/models/mlp_classifier/predict", json=body, headers=AUTH) for _ in range(count)]
    assert [a.status_code for a in answers] == [200] * count, answers[-1].text
    return {a.headers["x-model-version"] for a in answers}


def until(http: httpx.Client, body: dict[str, object], expected: set[str], timeout_s: float = 30) -> None:
    """Predictions until every one of a round comes from `expected` (the policy file is re-read every 0.2 s)."""
    deadline = time.monotonic() + timeout_s
    while versions(http, body, 5) != expected:
        assert time.monotonic() < deadline, f"the policy did not move the traffic to {expected}"
        time.sleep(0.2)


def grpc_version(target: str, version: str, row: list[float]) -> str:
    features = pb.ModelInferRequest.InferInputTensor(name="features", datatype="FP32", shape=[1, len(row)],
                                                     contents=pb.InferTensorContents(fp32_contents=row))
    request = pb.ModelInferRequest(model_name="mlp_classifier", model_version=version, inputs=[features])
    with grpc.insecure_channel(target) as channel:
        call = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer",
                                   request_serializer=pb.ModelInferRequest.SerializeToString,
                                   response_deserializer=pb.ModelInferResponse.FromString)
        answer: pb.ModelInferResponse = call(request, metadata=(("authorization", f"Bearer {KEY}"),), timeout=60)
    return answer.model_version


@pytest.mark.timeout(600)
def test_the_rollout_and_the_rollback_move_traffic_between_the_two_deployments(
        stores: tuple[Path, Path], stable: Running, canary: Running, gateway: tuple[Running, Path]) -> None:
    running, policy = gateway
    spec = container(render(OVERLAY), "gateway")
    base = running.url(named_port(spec, "http"), "")
    body = read_archive(stores[1] / "mlp_classifier.mar").example()
    features = body["features"]
    row = [float(x) for x in (features[0] if isinstance(features[0], list) else features)]
    start = policy.read_text()
    with httpx.Client(base_url=base, timeout=60) as http:
        assert versions(http, body, 10) == {"1.0"}  # the overlay's starting point
        policy.write_text(start.replace('    default: "1.0"\n', '    default: "1.0"\n' + CANARY_LINE))
        until(http, body, {"1.1"})  # answered by the canary server: the stable one has no 1.1
        pinned = http.post("/v1/models/mlp_classifier/predict", json=body, headers={**AUTH, "X-Model-Version": "1.0"})
        assert (pinned.status_code, pinned.headers["x-model-version"]) == (200, "1.0")
        grpc_target = f"127.0.0.1:{running.ports[spec['readinessProbe']['grpc']['port']]}"
        assert [grpc_version(grpc_target, v, row) for v in ("1.0", "1.1", "")] == ["1.0", "1.1", "1.1"]
        policy.write_text(start)  # roll back
        until(http, body, {"1.0"})
