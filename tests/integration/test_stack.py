"""`make serve`'s command: TorchServe and the gateway in one foreground process, stopped by Ctrl-C or SIGTERM
sent to its process group, as a terminal, a supervisor or a container runtime sends it."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import psutil
import pytest

from serving.modelserver import stop
from tests.servers import (
    PORT_FIELDS,
    ROOT,
    free_ports,
    model_server_env,
    port_is_free,
    settings_for,
    wait_until_ready,
)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_stack_serves_prints_curls_and_a_signal_to_its_group_stops_everything(
        model_store: Path, tmp_path: Path, signum: int) -> None:
    store = tmp_path / "store"
    store.mkdir()
    shutil.copy(model_store / "linear_regression.mar", store)
    model_server = settings_for(store, tmp_path / "ts")
    port, grpc_port = free_ports(2)
    env = {**os.environ, **model_server_env(model_server), "GATEWAY_PORT": str(port),
           "GATEWAY_GRPC_PORT": str(grpc_port), "GATEWAY_MODEL_STORE": str(store), "GATEWAY_API_KEYS": ""}
    log = tmp_path / "stack.log"
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as sink:
        # its own session and process group, as a supervisor starts it (TorchServe runs in a session of its own)
        process = subprocess.Popen([sys.executable, "-m", "serving.stack"], env=env, cwd=ROOT, stdout=sink,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_until_ready(url, process, log)
            answer = httpx.post(f"{url}/v1/models/linear_regression/predict", json={"features": [0.0] * 10})
            assert answer.status_code == 200, log.read_text()[-2000:]
            # the banner's gRPC example, run as printed (tritonclient.grpc, on the gRPC port)
            example = re.search(r"^  (python -c .*)$", log.read_text(), re.MULTILINE)
            assert example is not None, log.read_text()[-2000:]
            grpc_answer = subprocess.run(["bash", "-c", example.group(1)], capture_output=True, text=True,
                                         timeout=60, env={**os.environ, "PATH": f"{Path(sys.executable).parent}:"
                                                                                f"{os.environ['PATH']}"})
            assert grpc_answer.returncode == 0, grpc_answer.stderr[-2000:]
            example_request = httpx.get(f"{url}/v1/models/linear_regression").json()["example_request"]
            v1 = httpx.post(f"{url}/v1/models/linear_regression/predict", json=example_request).json()
            assert json.loads(grpc_answer.stdout) == pytest.approx([v1["prediction"]], rel=1e-5)  # one row
            java = psutil.Process(int((model_server.ts_home / "torchserve.pid").read_text()))
            started = [java, *java.children(recursive=True)]
            assert len(started) >= 2  # the JVM and at least one Python worker
            os.killpg(process.pid, signum)
            assert process.wait(timeout=90) == 0, log.read_text()[-2000:]
            output = log.read_text()
            assert f"curl -s -H 'Content-Type: application/json' {url}/v1/models/linear_regression/predict" in output
            assert "API keys are OFF" in output
            assert "TorchServe stopped." in output
            assert f"{signal.Signals(signum).name}: the stack stopped." in output
            assert [p.pid for p in started if p.is_running() and p.status() != psutil.STATUS_ZOMBIE] == []
            ports = [port, grpc_port, *(getattr(model_server, field) for field in PORT_FIELDS)]
            assert [p for p in ports if not port_is_free(p)] == []
            assert not (model_server.ts_home / "torchserve.pid").exists()
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            stop(model_server)  # what a failed stop left behind must not outlive the test
