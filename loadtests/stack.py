"""The stack on free loopback ports, for load tests, benchmarks and the test suite: TorchServe started in
process (`serving.modelserver.start`) and the gateway as its own process (`python -m serving.gateway`), the
way `make serve` runs them."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from serving.modelserver import ModelServerSettings, read_keys, start, stop

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


def settings_for(store: Path, home: Path, startup_timeout_s: float = 90, **overrides: object) -> ModelServerSettings:
    """Settings for a TorchServe under `home` on free ports (all five: a second server must never clash)."""
    ports = dict(zip(PORT_FIELDS, free_ports(len(PORT_FIELDS)), strict=True))
    return ModelServerSettings.model_validate({"ts_model_store": store, "ts_home": home,
                                               "ts_startup_timeout_s": startup_timeout_s, **ports, **overrides})


def model_server_env(settings: ModelServerSettings) -> dict[str, str]:
    """The TS_* variables that point a gateway process at this TorchServe."""
    return {"TS_HOME": str(settings.ts_home), "TS_MODEL_STORE": str(settings.ts_model_store),
            **{field.upper(): str(getattr(settings, field)) for field in PORT_FIELDS}}


def wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path, timeout_s: float = 60) -> None:
    """Poll `url` until it answers 200; a clear error with the log's tail if the process dies or stalls."""
    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer within {timeout_s:.0f} s: {log.read_text()[-2000:]}")
        time.sleep(0.2)


@contextmanager
def running_torchserve(settings: ModelServerSettings) -> Iterator[ModelServerSettings]:
    """TorchServe started with `settings` (it stops itself again if it cannot serve them), stopped at exit."""
    start(settings)
    try:
        yield settings
    finally:
        stop(settings)


@contextmanager
def server_process(command: list[str], health_url: str, log: Path, env: dict[str, str],
                   timeout_s: float = 60) -> Iterator[subprocess.Popen[bytes]]:
    """A server subprocess logging to `log`, up once `health_url` answers 200; at exit SIGTERM (then SIGKILL) to
    its whole process group, so servers that fork workers (LitServe) leave none behind."""
    with log.open("wb") as sink:
        process = subprocess.Popen(command, env={**os.environ, **env}, stdout=sink, stderr=subprocess.STDOUT,
                                   cwd=ROOT, start_new_session=True)
        try:
            wait_until_up(health_url, process, log, timeout_s)
            yield process
        finally:
            _signal_group(process, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                process.wait()
            time.sleep(0.2)  # let children that outlive their leader by a moment see the signal
            _signal_group(process, signal.SIGKILL)


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # the group is gone already
        os.killpg(process.pid, signum)


@contextmanager
def gateway_process(store: Path, model_server: ModelServerSettings, log: Path,
                    **env: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`python -m serving.gateway` on a free port in front of `model_server`; yields (base URL, process). Its gRPC
    port is free too unless `env` gives GATEWAY_GRPC_PORT (Triton's 8001 would clash between two gateways)."""
    port, grpc_port = free_ports(2)
    url = f"http://127.0.0.1:{port}"
    environment = {**model_server_env(model_server), "GATEWAY_PORT": str(port), "GATEWAY_GRPC_PORT": str(grpc_port),
                   "GATEWAY_MODEL_STORE": str(store), **env}
    with server_process([sys.executable, "-m", "serving.gateway"], f"{url}/livez", log, environment) as process:
        yield url, process


@dataclass(frozen=True)
class LocalStack:
    """A running TorchServe and gateway: where they listen, the keys to call them, the gateway's process."""

    gateway_url: str
    gateway_key: str
    model_server: ModelServerSettings
    gateway: subprocess.Popen[bytes]
    gateway_grpc_port: int = 0  # the gateway's gRPC front-end (OIP v2)

    @property
    def torchserve_url(self) -> str:
        """TorchServe's inference API."""
        return self.model_server.inference_url

    @property
    def torchserve_key(self) -> str:
        """TorchServe's inference key (it changes at every start)."""
        return read_keys(self.model_server.ts_home).inference


@contextmanager
def local_stack(store: Path, work: Path, api_key: str = "", **gateway_env: str) -> Iterator[LocalStack]:
    """TorchServe with every archive of `store` and the gateway in front of it, on free ports under `work`;
    both stopped at exit."""
    settings = settings_for(store.resolve(), work / "torchserve", startup_timeout_s=300)
    with running_torchserve(settings) as model_server:
        env = {"GATEWAY_API_KEYS": api_key, "GATEWAY_LOG_LEVEL": "WARNING",
               "GATEWAY_GRPC_PORT": str(free_ports(1)[0]), **gateway_env}
        with gateway_process(store.resolve(), model_server, work / "gateway.log", **env) as (url, process):
            wait_until_up(f"{url}/readyz", process, work / "gateway.log")
            yield LocalStack(url, api_key, model_server, process, int(env["GATEWAY_GRPC_PORT"]))
