"""Helpers for tests that run real servers: free loopback ports and model-server settings on them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

from serving.modelserver import ModelServerSettings

ROOT = Path(__file__).resolve().parent.parent

PORT_FIELDS = ("ts_inference_port", "ts_management_port", "ts_metrics_port", "ts_grpc_inference_port",
               "ts_grpc_management_port")


def free_ports(count: int) -> list[int]:
    """Distinct ports free on 127.0.0.1 (all held open at once, so none is handed out twice)."""
    with ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


def port_is_free(port: int) -> bool:
    """Whether 127.0.0.1:port can be bound now."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def settings_for(store: Path, home: Path, startup_timeout_s: float = 90, **overrides: object) -> ModelServerSettings:
    """Settings for a server under `home` on free ports (all five: a second server must never clash)."""
    ports = dict(zip(PORT_FIELDS, free_ports(len(PORT_FIELDS)), strict=True))
    return ModelServerSettings.model_validate({"ts_model_store": store, "ts_home": home,
                                               "ts_startup_timeout_s": startup_timeout_s, **ports, **overrides})


def model_server_env(settings: ModelServerSettings) -> dict[str, str]:
    """The TS_* variables that point a gateway process at this TorchServe."""
    return {"TS_HOME": str(settings.ts_home), "TS_MODEL_STORE": str(settings.ts_model_store),
            **{field.upper(): str(getattr(settings, field)) for field in PORT_FIELDS}}


@contextmanager
def gateway_process(store: Path, model_server: ModelServerSettings, log: Path,
                    **env: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`python -m serving.gateway` on a free port in front of `model_server`; yields (base URL, process)."""
    port = free_ports(1)[0]
    environment = {**os.environ, **model_server_env(model_server), "GATEWAY_PORT": str(port),
                   "GATEWAY_MODEL_STORE": str(store), **env}
    with log.open("wb") as sink:
        process = subprocess.Popen([sys.executable, "-m", "serving.gateway"], env=environment,
                                   stdout=sink, stderr=subprocess.STDOUT, cwd=ROOT)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"gateway exited with {process.returncode}: {log.read_text()[-2000:]}")
                try:
                    if httpx.get(f"{url}/livez", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"gateway did not start: {log.read_text()[-2000:]}")
                time.sleep(0.2)
            yield url, process
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
