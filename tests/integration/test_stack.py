"""`make serve`'s command: TorchServe and the gateway in one foreground process, stopped by Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests.servers import ROOT, free_ports, model_server_env, settings_for


def test_stack_serves_prints_curls_and_stops_both_on_ctrl_c(model_store: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    shutil.copy(model_store / "linear_regression.mar", store)
    model_server = settings_for(store, tmp_path / "ts")
    port, grpc_port = free_ports(2)
    env = {**os.environ, **model_server_env(model_server), "GATEWAY_PORT": str(port),
           "GATEWAY_GRPC_PORT": str(grpc_port), "GATEWAY_MODEL_STORE": str(store), "GATEWAY_API_KEYS": ""}
    log = tmp_path / "stack.log"
    with log.open("wb") as sink:
        process = subprocess.Popen([sys.executable, "-m", "serving.stack"], env=env, cwd=ROOT, stdout=sink,
                                   stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and process.poll() is None:
                try:
                    if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.3)
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
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=60) == 0
        finally:
            if process.poll() is None:
                process.kill()
    output = log.read_text()
    assert f"curl -s -H 'Content-Type: application/json' {url}/v1/models/linear_regression/predict" in output
    assert "API keys are OFF" in output
    assert "TorchServe stopped." in output
    assert not java.is_running() or java.status() == psutil.STATUS_ZOMBIE
