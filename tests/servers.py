"""Helpers for tests that run real servers: free loopback ports and model-server settings on them."""

from __future__ import annotations

import socket
from contextlib import ExitStack
from pathlib import Path

from serving.modelserver import ModelServerSettings

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
