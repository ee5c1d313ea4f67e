"""The local TorchServe runtime against a real TorchServe 0.12: a tiny echo archive, real ports, real processes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
import torch

from serving.modelserver import ModelServerError, ModelServerSettings, read_keys, start, status, stop
from serving.modelserver.paths import ServerPaths
from serving.modelserver.processes import process_tree, server_process
from tests.servers import port_is_free, running_torchserve, settings_for

HANDLER = '''
import json

import torch
from ts.torch_handler.base_handler import BaseHandler


class EchoHandler(BaseHandler):
    """Rows of {"x": [..]} in, the model's outputs out."""

    def preprocess(self, data):
        rows = []
        for row in data:
            body = row.get("body") or row.get("data")
            if isinstance(body, (bytes, bytearray)):
                body = json.loads(body)
            rows.append(body["x"])
        return torch.tensor(rows, dtype=torch.float32)

    def postprocess(self, data):
        return data.tolist()
'''

BROKEN_HANDLER = '''
from ts.torch_handler.base_handler import BaseHandler


class BrokenHandler(BaseHandler):
    def initialize(self, context):
        raise RuntimeError("echo initialize fails on purpose")
'''


def build_archive(workdir: Path, handler_source: str) -> Path:
    """A model store holding echo.mar: a TorchScript Linear(2, 1) computing x0 + 2*x1 + 0.5, one worker."""
    workdir.mkdir(parents=True, exist_ok=True)
    linear = torch.nn.Linear(2, 1)
    with torch.no_grad():
        linear.weight.copy_(torch.tensor([[1.0, 2.0]]))
        linear.bias.copy_(torch.tensor([0.5]))
    torch.jit.script(linear).save(str(workdir / "model.pt"))
    (workdir / "echo_handler.py").write_text(textwrap.dedent(handler_source), encoding="utf-8")
    (workdir / "model-config.yaml").write_text("minWorkers: 1\nmaxWorkers: 1\n", encoding="utf-8")
    store = workdir / "store"
    store.mkdir()
    archiver = Path(sys.executable).with_name("torch-model-archiver")
    subprocess.run([str(archiver), "--model-name", "echo", "--version", "1.0", "--handler", "echo_handler.py",
                    "--serialized-file", "model.pt", "--export-path", str(store),
                    "--config-file", "model-config.yaml"], cwd=workdir, check=True, timeout=120)
    return store


def alive(process: psutil.Process) -> bool:
    try:
        return bool(process.is_running()) and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def processes_of(home: Path) -> list[psutil.Process]:
    """Every live process whose command line names this home's tmp directory (the JVM and its workers)."""
    marker = str(home.resolve() / "tmp")
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if any(marker in part for part in process.info["cmdline"] or []) and alive(process):
            found.append(process)
    return found


@pytest.fixture(scope="module")
def echo_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_archive(tmp_path_factory.mktemp("echo"), HANDLER)


@pytest.fixture(scope="module")
def server(echo_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelServerSettings]:
    """One running TorchServe shared by the read-only tests; always stopped at the end."""
    settings = settings_for(echo_store, tmp_path_factory.mktemp("ts") / "home")
    with running_torchserve(settings):
        yield settings


@pytest.fixture
def own_settings(echo_store: Path, tmp_path: Path) -> Iterator[ModelServerSettings]:
    """Settings for a server the test starts itself; stopped in teardown whatever the test did."""
    settings = settings_for(echo_store, tmp_path / "home")
    yield settings
    stop(settings)


def test_start_returns_with_ready_workers_then_stop_leaves_nothing(own_settings: ModelServerSettings) -> None:
    start(own_settings)
    keys = read_keys(own_settings.ts_home)
    described = httpx.get(f"{own_settings.management_url}/models/echo", headers=keys.management_headers()).json()
    assert [w["status"] for w in described[0]["workers"]] == ["READY"]

    java = server_process(ServerPaths.of(own_settings))
    assert java is not None
    tree = process_tree(java)
    assert any("model_service_worker.py" in " ".join(p.cmdline()) for p in tree[1:])
    assert (own_settings.ts_home / "torchserve.pid").read_text() == str(java.pid)

    stop(own_settings)
    assert [p.pid for p in tree if alive(p)] == []
    assert processes_of(own_settings.ts_home) == []
    assert all(port_is_free(port) for port in own_settings.ports().values())
    assert not (own_settings.ts_home / "key_file.json").exists()
    stop(own_settings)  # idempotent
    assert status(own_settings)["running"] is False


def test_inference_with_the_key(server: ModelServerSettings) -> None:
    keys = read_keys(server.ts_home)
    response = httpx.post(f"{server.inference_url}/predictions/echo", json={"x": [1.0, 2.0]},
                          headers=keys.inference_headers())
    assert response.status_code == 200, response.text
    assert response.json() == [5.5]


@pytest.mark.parametrize("path", ["/ping", "/predictions/echo"])
@pytest.mark.parametrize("key", [None, "wrong-key"])
def test_inference_api_refuses_a_missing_or_wrong_key(server: ModelServerSettings, path: str, key: str | None) -> None:
    headers = {} if key is None else {"Authorization": f"Bearer {key}"}
    response = httpx.post(f"{server.inference_url}{path}", json={"x": [1.0, 2.0]}, headers=headers)
    assert response.status_code == 400
    assert response.json()["type"] == "InvalidKeyException"


def test_ping_with_the_key_is_healthy(server: ModelServerSettings) -> None:
    keys = read_keys(server.ts_home)
    response = httpx.get(f"{server.inference_url}/ping", headers=keys.inference_headers())
    assert (response.status_code, response.json()) == (200, {"status": "Healthy"})


def test_model_api_is_disabled_but_reads_work(server: ModelServerSettings) -> None:
    headers = read_keys(server.ts_home).management_headers()
    register = httpx.post(f"{server.management_url}/models", params={"url": "echo.mar"}, headers=headers)
    remote = httpx.post(f"{server.management_url}/models", params={"url": "https://example.com/x.mar"},
                        headers=headers)
    delete = httpx.delete(f"{server.management_url}/models/echo", headers=headers)
    assert (register.status_code, remote.status_code, delete.status_code) == (405, 405, 405)
    listing = httpx.get(f"{server.management_url}/models", headers=headers)
    assert listing.json() == {"models": [{"modelName": "echo", "modelUrl": "echo.mar"}]}


def test_allowed_urls_refuse_remote_archives_on_the_workflow_api(server: ModelServerSettings) -> None:
    """enable_model_api=false does not cover /workflows; allowed_urls is what stops a remote archive there."""
    headers = read_keys(server.ts_home).management_headers()
    store = server.ts_model_store.resolve()

    def register(url: str) -> httpx.Response:
        return httpx.post(f"{server.management_url}/workflows", params={"url": url}, headers=headers)

    for url in ("https://example.com/evil.war", f"file://{store}/../evil.war", "file:///etc/evil.war"):
        refused = register(url)
        assert (refused.status_code, refused.json()["message"]) == (
            404, f"Given URL {url} does not match any allowed URL(s)")
    # an archive inside the store passes the pattern (so Java read the escaped regex as rendered) and then
    # fails for another reason: it is already there
    inside = register(f"file://{store}/echo.mar")
    assert (inside.status_code, inside.json()["type"]) == (500, "FileAlreadyExistsException")


def test_management_api_refuses_the_inference_key(server: ModelServerSettings) -> None:
    keys = read_keys(server.ts_home)
    response = httpx.get(f"{server.management_url}/models", headers=keys.inference_headers())
    assert response.status_code == 400


def test_rendered_config_binds_to_loopback(server: ModelServerSettings) -> None:
    lines = (server.ts_home / "config.properties").read_text().splitlines()
    assert f"inference_address=http://127.0.0.1:{server.ts_inference_port}" in lines
    assert f"management_address=http://127.0.0.1:{server.ts_management_port}" in lines
    assert f"metrics_address=http://127.0.0.1:{server.ts_metrics_port}" in lines
    assert "enable_model_api=false" in lines


def test_status_reports_ready_workers(server: ModelServerSettings) -> None:
    report = status(server)
    assert report["running"] is True
    assert report["ping"] == "Healthy"
    assert report["models"] == {"echo": {"min_workers": 1, "workers": ["READY"], "ready": True}}


def test_prometheus_metrics_count_predictions(server: ModelServerSettings) -> None:
    keys = read_keys(server.ts_home)
    httpx.post(f"{server.inference_url}/predictions/echo", json={"x": [0.0, 0.0]}, headers=keys.inference_headers())
    metrics = httpx.get(f"{server.metrics_url}/metrics").text
    assert 'ts_inference_requests_total{model_name="echo"' in metrics


def test_a_second_start_of_the_same_home_is_refused(server: ModelServerSettings) -> None:
    with pytest.raises(ModelServerError, match="already running"):
        start(server)


def test_a_failing_handler_makes_start_fail_with_the_log_tail(tmp_path: Path) -> None:
    store = build_archive(tmp_path / "broken", BROKEN_HANDLER)
    settings = settings_for(store, tmp_path / "home", ts_startup_timeout_s=30)
    try:
        with pytest.raises(ModelServerError, match=r"did not serve all 1 model\(s\) within 30 s") as raised:
            start(settings)
    finally:
        stop(settings)
    message = str(raised.value)
    assert "echo (0/1 workers READY" in message
    assert "model_log.log (last 40 lines)" in message
    assert "RuntimeError: echo initialize fails on purpose" in message
    assert processes_of(settings.ts_home) == []
    assert all(port_is_free(port) for port in settings.ports().values())
