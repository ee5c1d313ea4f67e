"""A real uvicorn gateway, and a client that sends `Content-Length: 100`, then 11 bytes, then closes its socket:
the request is counted as 499 (nginx's "client closed request"), logged on an INFO access line without a
traceback, and no 5xx appears in the metrics or the log. TorchServe is not needed: the body never arrives."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.servers import gateway_process, settings_for
from tests.unit.gateway.gateway_apps import write_store

ROUTES = {"/v1/models/reg/predict": "/v1/models/{name}/predict", "/v2/models/reg/infer": "/v2/models/{name}/infer"}


def leave_mid_body(url: str, path: str) -> None:
    address = urlsplit(url)
    with socket.create_connection((address.hostname, address.port)) as client:
        client.sendall(f"POST {path} HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
                       f"Content-Length: 100\r\nX-Request-ID: gone-{path.count('v2')}\r\n\r\n".encode())
        client.sendall(b'{"features"')
    # closed here, 89 bytes short


def requests_counted(url: str) -> dict[tuple[str, str], float]:
    """gateway_requests_total by (route, status), from the gateway's /metrics."""
    families = text_string_to_metric_families(httpx.get(f"{url}/metrics").text)
    return {(sample.labels["route"], sample.labels["status"]): sample.value for family in families
            for sample in family.samples if sample.name == "gateway_requests_total"}


def test_a_client_that_leaves_mid_body_is_a_499_not_a_500(tmp_path: Path) -> None:
    store = write_store(tmp_path / "store")
    log = tmp_path / "gateway.log"
    with gateway_process(store, settings_for(store, tmp_path / "torchserve"), log, GATEWAY_LOG_LEVEL="INFO") as (
            url, _):
        for path in ROUTES:
            leave_mid_body(url, path)
        deadline = time.monotonic() + 30  # the gateway notices the closed socket on its own schedule
        while len([k for k in requests_counted(url) if k[0] in ROUTES.values()]) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        counted = requests_counted(url)
    assert {key: value for key, value in counted.items() if key[0] in ROUTES.values()} == {
        (template, "499"): 1.0 for template in ROUTES.values()}
    assert not [key for key in counted if key[1].startswith("5")]
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    access = [(e["level"], e["message"], e["request_id"]) for e in lines if e["logger"] == "serving.gateway.access"
              and e["route"] in ROUTES.values()]
    assert sorted(access) == [("INFO", "POST /v1/models/{name}/predict 499", "gone-0"),
                              ("INFO", "POST /v2/models/{name}/infer 499", "gone-1")]
    assert [e for e in lines if e["level"] in ("ERROR", "CRITICAL") or "exc" in e] == []
    assert "Traceback" not in log.read_text()
