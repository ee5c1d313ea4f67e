"""Helpers for tests that run real servers: the shared ones live in `loadtests.stack` (the load tests and the
benchmark start the stack the same way)."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import httpx

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
           "running_torchserve", "settings_for", "wait_until_ready"]


def port_is_free(port: int) -> bool:
    """Whether 127.0.0.1:port can be bound now."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def wait_until_ready(url: str, process: subprocess.Popen[bytes], log: Path, within_s: float = 120) -> None:
    """Poll `url`/readyz until it answers 200; AssertionError, with the log's tail, when `process` ends first or
    `within_s` pass."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"the stack never got ready: {log.read_text(errors='replace')[-3000:]}")
