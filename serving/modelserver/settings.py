"""Typed settings of the local TorchServe runtime, read from environment variables of the same name.

`TS_MODEL_STORE` sets `ts_model_store`, `TS_INFERENCE_PORT` sets `ts_inference_port`, and so on. TorchServe
itself never sees these variables: the runtime renders them into `config.properties` (see `properties.py`) and
starts TorchServe with `enable_envvars_config=false`.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIB = 1024 * 1024
# Hosts that keep a server on this machine; anything else is reachable from the network.
LOOPBACK_NAMES = frozenset({"localhost", "ip6-localhost"})
# Wildcard bind addresses; a client on the same machine reaches them through loopback.
WILDCARD_CLIENT_HOST = {"0.0.0.0": "127.0.0.1", "::": "::1"}


class ModelServerSettings(BaseSettings):
    """Where the model store and TorchServe's working directory are, and how TorchServe listens."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    ts_model_store: Path = Path("model_store")
    # TorchServe's working directory: logs, key_file.json, the rendered config.properties, pid and sockets.
    ts_home: Path = Path(".torchserve")
    ts_bind_host: str = "127.0.0.1"
    # The management API and both gRPC servers: unset, they share ts_bind_host. In a container the inference and
    # metrics APIs listen on the pod's address while these stay on loopback (docs/deploy.md).
    ts_management_bind_host: str | None = None
    ts_inference_port: int = 8080
    ts_management_port: int = 8081
    ts_metrics_port: int = 8082
    # TorchServe always starts its gRPC servers too; they get their own ports so two servers never clash.
    ts_grpc_inference_port: int = 7070
    ts_grpc_management_port: int = 7071
    # The largest legitimate request is one encoded image (a few MiB at most); anything bigger is refused by
    # TorchServe's frontend before it is queued for a Python worker, so it cannot exhaust a worker's memory.
    ts_max_request_size: int = Field(default=10 * MIB, gt=0)
    # The largest legitimate response is a generated image grid or a long text sample, far below this.
    ts_max_response_size: int = Field(default=10 * MIB, gt=0)
    ts_default_response_timeout: int = Field(default=60, gt=0)
    ts_startup_timeout_s: float = Field(default=180, gt=0)
    # "all" (every archive in the store) or TorchServe's comma-separated list, e.g. "echo.mar,a=b.mar".
    ts_models: str = Field(default="all", min_length=1)
    # Netty event-loop threads only move bytes; predictions run in the Python workers, so a few suffice.
    ts_number_of_netty_threads: int = Field(default=4, gt=0)
    # Requests queued per model while every worker is busy; beyond it TorchServe answers 503 at once, so an
    # overload shows as refusals the gateway can report instead of latency that grows without bound.
    ts_job_queue_size: int = Field(default=100, gt=0)
    # Options for TorchServe's JVM (config.properties `vmargs`, which its launcher passes to java); empty: the
    # JVM's own defaults. The frontend only relays bytes: the serial collector, started on a small heap, holds
    # less memory at the same speed; the 1 GiB ceiling leaves room for the gateway's largest bodies in flight, and
    # C2 stays (without it the steady state was slower). docs/benchmarks.md, "TorchServe's JVM".
    ts_jvm_options: str = "-XX:+UseSerialGC -Xms32m -Xmx1g -Xss512k"
    # TorchServe's access_log.log, a line per request: off, as the gateway's access log has every request and the
    # writing costs the JVM CPU per request (serving/modelserver/log_config.py).
    ts_access_log: bool = False
    # TorchServe's keys expire after 60 minutes by default and every request then fails with 400 until someone
    # regenerates them; the keys instead live as long as the server (they change at every start).
    ts_token_expiration_min: float = Field(default=60 * 24 * 365, gt=0)
    ts_profile: Literal["local", "production"] = "local"
    # TorchServe's own token check. It may be off only in production, where TorchServe runs in a pod of its own:
    # its keys are random per start and per replica and cannot be supplied, so a gateway in another pod (or a
    # Kubernetes probe) cannot know them; the NetworkPolicy is the boundary then (docs/deploy.md, SECURITY.md).
    ts_token_auth: bool = True
    # TorchServe's model API (register, scale, unregister) on the management port. Off unless the gateway's admin
    # API is configured (docs/gateway.md): then the gateway, and only it, calls it with the management token, and
    # allowed_urls still admits nothing but archives inside the model store.
    ts_model_api: bool = False

    @model_validator(mode="after")
    def _refuse_unsafe_values(self) -> Self:
        ports = self.ports()
        for name, port in ports.items():
            if not 1 <= port <= 65535:
                raise ValueError(f"{name} must be in 1..65535, got {port}")
        if len(set(ports.values())) != len(ports):
            raise ValueError(f"the ports must differ, got {ports}")
        if self.ts_profile != "production" and not is_loopback(self.ts_bind_host):
            raise ValueError(f"ts_bind_host {self.ts_bind_host!r} is not a loopback address; TorchServe may listen "
                             "beyond this machine only with TS_PROFILE=production")
        if self.ts_model_api and not self.ts_token_auth:
            raise ValueError("ts_model_api needs ts_token_auth: the model API must never be open without a token")
        if not self.ts_token_auth:
            if self.ts_profile != "production":
                raise ValueError("ts_token_auth may be false only with TS_PROFILE=production (a model server in a pod "
                                 "of its own, behind a NetworkPolicy)")
            if not is_loopback(self.private_host):
                # With no token, the management API (it can scale workers) and gRPC must not leave the pod.
                raise ValueError(f"with ts_token_auth false the management API must stay on loopback; "
                                 f"set TS_MANAGEMENT_BIND_HOST=127.0.0.1 (it is {self.private_host!r})")
        elif self.ts_profile != "production" and not is_loopback(self.private_host):
            raise ValueError(f"ts_management_bind_host {self.private_host!r} is not a loopback address; TorchServe may "
                             "listen beyond this machine only with TS_PROFILE=production")
        return self

    @property
    def private_host(self) -> str:
        """Where the management API and the gRPC servers listen."""
        return self.ts_management_bind_host or self.ts_bind_host

    def ports(self) -> dict[str, int]:
        """Every port TorchServe listens on, by setting name."""
        return {"ts_inference_port": self.ts_inference_port, "ts_management_port": self.ts_management_port,
                "ts_metrics_port": self.ts_metrics_port, "ts_grpc_inference_port": self.ts_grpc_inference_port,
                "ts_grpc_management_port": self.ts_grpc_management_port}

    @property
    def inference_url(self) -> str:
        """Base URL of the inference API, as a client on this machine reaches it."""
        return client_url(self.ts_bind_host, self.ts_inference_port)

    @property
    def management_url(self) -> str:
        """Base URL of the management API, as a client on this machine reaches it."""
        return client_url(self.private_host, self.ts_management_port)

    @property
    def metrics_url(self) -> str:
        """Base URL of the Prometheus metrics API, as a client on this machine reaches it."""
        return client_url(self.ts_bind_host, self.ts_metrics_port)


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and the usual names of localhost."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def http_url(host: str, port: int) -> str:
    """`http://host:port`, with an IPv6 address in brackets."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def client_url(bind_host: str, port: int) -> str:
    """The URL a local client uses for a server bound to `bind_host` (a wildcard is reached via loopback)."""
    return http_url(WILDCARD_CLIENT_HOST.get(bind_host, bind_host), port)


@lru_cache
def get_settings() -> ModelServerSettings:
    """The settings from the environment, read once (inject with `Depends(get_settings)`)."""
    return ModelServerSettings()
