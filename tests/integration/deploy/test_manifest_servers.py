"""The model server and the gateway started as the manifests start their containers (the image's entrypoint
command, the manifest's args and ConfigMap env), on free loopback ports, answering the probes the manifests
name as a kubelet expects: 200-399 for httpGet, an accepted connection for tcpSocket."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from serving.archive.builder import build
from tests.servers import PORT_FIELDS, ROOT, free_ports
from tests.unit.deploy.manifests import container, container_env, dockerfile_stages, find, named_port, render
from tests.unit.deploy.test_observability import TORCHSERVE_METRICS

MODELS = ("cnn_digits", "linear_regression")
KEY = "deploy-test-key-0123456789abcdef"
OVERLAY = "overlays/gpu"


@dataclass
class Running:
    """A server process and how its manifest's container ports map onto the local ports it got."""

    process: subprocess.Popen[bytes]
    ports: dict[int, int]  # manifest containerPort → local port
    log: Path
    env: dict[str, str]  # the manifest's environment with the local ports and paths

    def url(self, container_port: int, path: str) -> str:
        return f"http://127.0.0.1:{self.ports[container_port]}{path}"


def process_env(manifest_env: dict[str, str]) -> dict[str, str]:
    """This environment plus the manifest's, with this checkout's packages first (as the image installs them)."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, **manifest_env, "PYTHONPATH": path}


def image_command(stage: str) -> list[str]:
    """The stage's ENTRYPOINT (without the init) with this interpreter for `python`."""
    entrypoint = dockerfile_stages()[stage].exec_form("ENTRYPOINT")
    if entrypoint[:2] == ["/usr/bin/tini", "--"]:
        entrypoint = entrypoint[2:]
    return [sys.executable if part == "python" else part for part in entrypoint]


def kubelet_probe(running: Running, spec: dict[str, Any], probe: str) -> bool:
    """One probe as the kubelet runs it."""
    action = spec[probe]
    if "httpGet" in action:
        port = named_port(spec, action["httpGet"]["port"])
        try:
            status = httpx.get(running.url(port, action["httpGet"]["path"]), timeout=action.get("timeoutSeconds", 1))
        except httpx.TransportError:
            return False
        return 200 <= status.status_code < 400
    if "grpc" in action:  # the kubelet's grpc probe: grpc.health.v1 Check, SERVING or it fails
        target = f"127.0.0.1:{running.ports[action['grpc']['port']]}"
        with grpc.insecure_channel(target) as channel:
            try:
                answer = health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(service=action["grpc"].get("service", "")),
                    timeout=action.get("timeoutSeconds", 1))
            except grpc.RpcError:
                return False
        return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)
    port = named_port(spec, action["tcpSocket"]["port"])
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex(("127.0.0.1", running.ports[port])) == 0


def wait_for(running: Running, spec: dict[str, Any], probe: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not kubelet_probe(running, spec, probe):
        if running.process.poll() is not None:
            pytest.fail(f"exited with {running.process.returncode}:\n{running.log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"{probe} never succeeded:\n{running.log.read_text()[-3000:]}")
        time.sleep(0.5)


def stop(running: Running, grace_s: float) -> int:
    """SIGTERM, as the kubelet sends it, then the pod's grace period; the exit code."""
    if running.process.poll() is None:
        running.process.send_signal(signal.SIGTERM)
    try:
        return running.process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        running.process.kill()
        running.process.wait()
        pytest.fail(f"did not stop within the grace period:\n{running.log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def store(artifacts_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two archives, as the image's builder makes them (deviceType gpu falls back to the CPU here)."""
    folder = tmp_path_factory.mktemp("image-store")
    for name in MODELS:
        build(artifacts_dir / name, folder, "gpu")
    return folder


@pytest.fixture(scope="module")
def model_server(store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """`python -m serving.modelserver run` with the Deployment's args and ConfigMap env, ports and paths local."""
    objects = render(OVERLAY)
    spec, env = container(objects, "model-server"), container_env(objects, "model-server")
    home = tmp_path_factory.mktemp("ts") / "home"
    fields = [name.upper() for name in PORT_FIELDS]
    manifest_ports = {name: int(env.get(name, 0)) for name in fields}
    local = dict(zip(fields, free_ports(len(fields)), strict=True))
    # Loopback instead of the pod's wildcard, still the production profile; the image's paths become local ones.
    env.update({**{k: str(v) for k, v in local.items()}, "TS_BIND_HOST": "127.0.0.1",
                "TS_MODEL_STORE": str(store), "TS_HOME": str(home)})
    log = home.parent / "model-server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen([*image_command("model-server"), *spec["args"]], env=process_env(env),
                                   stdout=sink, stderr=subprocess.STDOUT, cwd=home.parent)
        running = Running(process, {manifest_ports[k]: local[k] for k in fields if manifest_ports[k]}, log, env)
        try:
            yield running
        finally:
            stop(running, 60)


@pytest.fixture(scope="module")
def gateway(store: Path, model_server: Running, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """`python -m serving.gateway` with the gateway Deployment's env, its Secret a local file."""
    objects = render(OVERLAY)
    spec, env = container(objects, "gateway"), container_env(objects, "gateway")
    folder = tmp_path_factory.mktemp("gateway")
    (folder / "keys").write_text(KEY + "\n")
    upstream = re.fullmatch(r"http://([^:/]+):(\d+)", env["GATEWAY_TORCHSERVE_URL"])
    assert upstream is not None
    port, grpc_port = free_ports(2)
    manifest_port, manifest_grpc_port = int(env["GATEWAY_PORT"]), int(env["GATEWAY_GRPC_PORT"])
    env.update({"GATEWAY_HOST": "127.0.0.1", "GATEWAY_PORT": str(port), "GATEWAY_GRPC_PORT": str(grpc_port),
                "GATEWAY_MODEL_STORE": str(store),
                "GATEWAY_API_KEYS_FILE": str(folder / "keys"),
                "GATEWAY_TORCHSERVE_URL": model_server.url(int(upstream.group(2)), "")})
    log = folder / "gateway.log"
    with log.open("wb") as sink:
        process = subprocess.Popen([*image_command("gateway"), *spec.get("args", [])], env=process_env(env),
                                   stdout=sink, stderr=subprocess.STDOUT, cwd=folder)
        running = Running(process, {manifest_port: port, manifest_grpc_port: grpc_port}, log, env)
        try:
            yield running
        finally:
            stop(running, 45)


def test_model_server_probes(model_server: Running) -> None:
    spec = container(render(OVERLAY), "model-server")
    budget = spec["startupProbe"]["periodSeconds"] * spec["startupProbe"]["failureThreshold"]
    wait_for(model_server, spec, "startupProbe", budget)
    assert kubelet_probe(model_server, spec, "readinessProbe")
    assert kubelet_probe(model_server, spec, "livenessProbe")
    # no token needed (the probes send none), and the management API listens on loopback only
    config = (Path(model_server.log).parent / "home" / "config.properties").read_text()
    assert "disable_token_authorization=true" in config
    assert re.search(r"^management_address=http://127\.0\.0\.1:\d+$", config, re.MULTILINE)


def test_gateway_probes_and_a_prediction_through_it(model_server: Running, gateway: Running) -> None:
    spec = container(render(OVERLAY), "gateway")
    wait_for(model_server, container(render(OVERLAY), "model-server"), "startupProbe", 300)
    wait_for(gateway, spec, "livenessProbe", 60)
    wait_for(gateway, spec, "readinessProbe", 30)
    ready = httpx.get(gateway.url(named_port(spec, "http"), "/readyz"), timeout=5).json()
    assert ready == {"status": "ready", "models": dict.fromkeys(sorted(MODELS), True)}
    base = gateway.url(named_port(spec, "http"), "")
    with httpx.Client(base_url=base, timeout=30) as http:
        example = http.get("/v1/models/linear_regression", headers={"Authorization": f"Bearer {KEY}"}).json()
        answer = http.post("/v1/models/linear_regression/predict", json=example["example_request"],
                           headers={"Authorization": f"Bearer {KEY}"})
        assert answer.status_code == 200, answer.text
        assert isinstance(answer.json()["prediction"], float)
        assert http.post("/v1/models/linear_regression/predict", json=example["example_request"]).status_code == 401


def test_the_metrics_the_dashboard_and_autoscaler_read_are_exported(model_server: Running, gateway: Running) -> None:
    spec = container(render(OVERLAY), "model-server")
    wait_for(model_server, spec, "readinessProbe", 300)
    # a prediction straight to TorchServe, as the gateway makes it, so the per-model series exist
    payload = {"features": [0.03, 0.05, 0.06, 0.02, -0.04, -0.03, -0.04, -0.002, 0.02, -0.017]}
    inference = named_port(spec, "inference")
    assert httpx.post(model_server.url(inference, "/predictions/linear_regression"), json=payload,
                      timeout=30).status_code == 200
    text = httpx.get(model_server.url(named_port(spec, "metrics"), "/metrics"), timeout=10).text
    exported = set(re.findall(r"^# TYPE (\S+) ", text, re.MULTILINE))
    assert exported >= TORCHSERVE_METRICS, TORCHSERVE_METRICS - exported
    assert re.search(r'^BatchSize_count\{ModelName="linear_regression",', text, re.MULTILINE)


def test_healthcheck_script_with_the_manifest_env(model_server: Running, gateway: Running) -> None:
    wait_for(gateway, container(render(OVERLAY), "gateway"), "readinessProbe", 300)
    for running, target in ((model_server, "model-server"), (gateway, "gateway")):
        check = subprocess.run([sys.executable, str(ROOT / "docker/healthcheck.py"), target],
                               env=process_env(running.env), capture_output=True, text=True, check=False,
                               cwd=running.log.parent)
        assert check.returncode == 0, check.stderr


def test_sigterm_stops_the_model_server_and_the_gateway_turns_unready(model_server: Running,
                                                                      gateway: Running) -> None:
    objects = render(OVERLAY)
    spec = container(objects, "model-server")
    wait_for(model_server, spec, "readinessProbe", 300)
    grace = find(objects, "Deployment", "model-server")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert stop(model_server, grace) == 0
    assert "TorchServe stopped." in model_server.log.read_text()
    assert not kubelet_probe(model_server, spec, "livenessProbe")
    gateway_spec = container(objects, "gateway")
    assert kubelet_probe(gateway, gateway_spec, "livenessProbe")  # alive, but no longer ready
    assert not kubelet_probe(gateway, gateway_spec, "readinessProbe")


def test_a_torchserve_that_dies_ends_the_container_with_exit_1(store: Path, tmp_path: Path) -> None:
    """The orchestrator restarts a container whose main process exits: `run` must not outlive TorchServe."""
    env = container_env(render(OVERLAY), "model-server")
    fields = [name.upper() for name in PORT_FIELDS]
    home = tmp_path / "home"
    env.update({**dict(zip(fields, map(str, free_ports(len(fields))), strict=True)), "TS_BIND_HOST": "127.0.0.1",
                "TS_MODEL_STORE": str(store), "TS_HOME": str(home)})
    log = tmp_path / "run.log"
    with log.open("wb") as sink:
        process = subprocess.Popen([*image_command("model-server"), "run"], env=process_env(env), stdout=sink,
                                   stderr=subprocess.STDOUT, cwd=tmp_path)
        running = Running(process, {}, log, env)
        try:
            deadline = time.monotonic() + 300
            while "TorchServe is ready" not in log.read_text():
                assert process.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.5)
            java = int((home / "torchserve.pid").read_text())
            os.kill(java, signal.SIGKILL)
            assert process.wait(timeout=60) == 1
            assert "TorchServe exited on its own" in log.read_text()
        finally:
            if process.poll() is None:
                stop(running, 60)
