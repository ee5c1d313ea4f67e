"""Helpers for tests that run real servers: the shared ones live in `loadtests.stack` (the load tests and the
benchmark start the stack the same way)."""

from __future__ import annotations

import socket

from loadtests.stack import (
    PORT_FIELDS,
    ROOT,
    free_ports,
    gateway_process,
    model_server_env,
    running_torchserve,
    settings_for,
)

__all__ = ["PORT_FIELDS", "ROOT", "free_ports", "gateway_process", "model_server_env", "port_is_free",
           "running_torchserve", "settings_for"]


def port_is_free(port: int) -> bool:
    """Whether 127.0.0.1:port can be bound now."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True
