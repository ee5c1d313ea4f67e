"""Path and name abuse through the real gateway process: traversal, encoded separators, NUL bytes, very long names,
unknown versions and names that look like URLs get a 4xx with a JSON message on every route that takes a name —
never a 5xx, never a file's contents, and never a request to TorchServe for anything but a served model.

Requests go over a raw socket: httpx and http.client would normalise `..` segments or refuse control bytes before
the gateway ever saw them."""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from serving.modelserver import ModelServerSettings
from tests.integration.conftest import KEY
from training import registry

V1_BODY = json.dumps({"features": [0.0] * 10}).encode()
V2_BODY = json.dumps({"inputs": [{"name": "features", "datatype": "FP32", "shape": [1, 10],
                                  "data": [0.0] * 10}]}).encode()
NAMES = {
    "dot-dot-slash": "../../../etc/passwd",
    "encoded-slash": "..%2F..%2F..%2Fetc%2Fpasswd",
    "encoded-dots": "%2e%2e",
    "encoded-dots-and-slash": "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "double-encoded": "..%252F..%252Fetc%252Fpasswd",
    "backslash": "..%5C..%5Cetc%5Cpasswd",
    "absolute": "%2Fetc%2Fpasswd",
    "nul": "linear_regression%00",
    "nul-then-traversal": "linear_regression%00..%2F..%2Fetc%2Fpasswd",
    "url": "http:%2F%2Fevil.example%2Fx.mar",
    "url-without-slashes": "http:evil.example",
    "file-url": "file:%2F%2F%2Fetc%2Fpasswd",
    "userinfo": "@evil.example",
    "archive-file": "linear_regression.mar",
    "other-case": "Linear_Regression",
    "trailing-space": "linear_regression%20",
    "very-long": "a" * 10_000,
}
NAME_ROUTES = [("GET", "/v1/models/{}"), ("POST", "/v1/models/{}/predict"), ("GET", "/v2/models/{}"),
               ("GET", "/v2/models/{}/ready"), ("POST", "/v2/models/{}/infer"),
               ("POST", "/v2/models/{}/versions/1/infer")]
VERSIONS = {
    "unknown": "9.9",
    "dot-dot": "..",
    "encoded-dots": "%2e%2e",
    "encoded-slash": "1%2F..%2F..%2Fetc%2Fpasswd",
    "nul": "1%00",
    "url": "http:%2F%2Fevil.example",
    "very-long": "9" * 10_000,
}
VERSION_ROUTES = [("GET", "/v2/models/linear_regression/versions/{}"),
                  ("GET", "/v2/models/linear_regression/versions/{}/ready"),
                  ("POST", "/v2/models/linear_regression/versions/{}/infer")]
REQUEST_LINE = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/1\.1"')


def raw_request(base_url: str, method: str, target: bytes, body: bytes = b"") -> tuple[int, bytes]:
    """Send `target` byte for byte as the request target; (status, body) of the answer."""
    address = urlsplit(base_url)
    head = (f"{method} ".encode() + target + b" HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n"
            + f"Authorization: Bearer {KEY}\r\nContent-Type: application/json\r\n"
              f"Content-Length: {len(body)}\r\n\r\n".encode())
    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        sock.sendall(head + body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


def torchserve_requests(server: ModelServerSettings, offset: int) -> list[tuple[str, str]]:
    """(method, path) of every request TorchServe logged past `offset` bytes of its access log."""
    text = (server.ts_home / "logs" / "access_log.log").read_bytes()[offset:].decode(errors="replace")
    return [(m["method"], m["path"]) for m in REQUEST_LINE.finditer(text)]


@pytest.fixture
def torchserve_sees_only_served_models(gateway: str, server: ModelServerSettings) -> Iterator[None]:
    """After the test: TorchServe was asked about served models only, and only for predictions, explanations and
    readiness.

    A valid prediction sent last is the marker: once it is in TorchServe's access log, everything the test sent
    before it would be too."""
    log = server.ts_home / "logs" / "access_log.log"
    offset = log.stat().st_size
    yield
    assert raw_request(gateway, "POST", b"/v1/models/linear_regression/predict", V1_BODY)[0] == 200
    deadline = time.monotonic() + 10
    while ("POST", "/predictions/linear_regression") not in (seen := torchserve_requests(server, offset)):
        assert time.monotonic() < deadline, "the marker prediction never reached TorchServe's access log"
        time.sleep(0.1)
    allowed = {("POST", f"/predictions/{name}") for name in registry.names()}
    allowed |= {("POST", f"/explanations/{name}") for name in registry.names()}  # the inference API's, for /explain
    allowed |= {("GET", f"/models/{name}") for name in registry.names()}
    assert set(seen) <= allowed


def assert_refused(status: int, body: bytes, what: str) -> None:
    """A 404 or 400 with the gateway's JSON error; nothing read from a file."""
    assert status in (400, 404), f"{what}: {status} {body[:300]!r}"
    message = json.loads(body)["error"]
    assert isinstance(message, str)
    assert message
    assert "root:" not in message  # the first field of /etc/passwd's first line
    assert len(body) < 1000, f"{what}: the client's 10k-character name came back whole"


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("method", "route"), NAME_ROUTES, ids=[f"{m} {r}" for m, r in NAME_ROUTES])
@pytest.mark.usefixtures("torchserve_sees_only_served_models")
def test_abusive_model_names_are_refused(gateway: str, method: str, route: str) -> None:
    body = b"" if method == "GET" else V1_BODY if route.startswith("/v1") else V2_BODY
    for label, name in NAMES.items():
        status, answer = raw_request(gateway, method, route.format(name).encode(), body)
        assert_refused(status, answer, f"{method} {label}")


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("method", "route"), VERSION_ROUTES, ids=[f"{m} {r}" for m, r in VERSION_ROUTES])
@pytest.mark.usefixtures("torchserve_sees_only_served_models")
def test_unknown_and_abusive_versions_are_refused(gateway: str, method: str, route: str) -> None:
    body = b"" if method == "GET" else V2_BODY
    for label, version in VERSIONS.items():
        status, answer = raw_request(gateway, method, route.format(version).encode(), body)
        assert_refused(status, answer, f"{method} version {label}")


@pytest.mark.timeout(30)
@pytest.mark.parametrize("target", [b"/v1/models/linear_regression\x00/predict", b"/v1/models/a b/predict",
                                    b"/v1/models/\x7f/predict"], ids=["nul", "space", "del"])
def test_raw_control_bytes_in_the_request_line_never_reach_the_app(gateway: str, target: bytes) -> None:
    """Not HTTP at all: uvicorn's parser answers 400 (plain text, before any route runs) and the gateway lives on."""
    status, _ = raw_request(gateway, "POST", target, V1_BODY)
    assert status == 400
    assert raw_request(gateway, "GET", b"/livez")[0] == 200



MANAGEMENT_LOOKALIKES = ["/models", "/models/linear_regression", "/models/linear_regression/1.0/set-default",
                         "/workflows", "/api-description", "/token?type=management", "/predictions/linear_regression",
                         "/v2/repository/index", "/v2/repository/models/linear_regression/load",
                         "/v2/repository/models/linear_regression/unload", "/v1/models/linear_regression/workers",
                         "/v1/models/linear_regression:predict"]


@pytest.mark.timeout(60)
@pytest.mark.usefixtures("torchserve_sees_only_served_models")
def test_no_gateway_route_reaches_the_management_api(gateway: str) -> None:
    """Every documented route, called with a served model, and TorchServe's management and repository paths tried
    through the gateway: TorchServe's management API hears nothing but `GET /models/<served>` (readiness)."""
    status, document = raw_request(gateway, "GET", b"/openapi.json")
    assert status == 200
    version = json.loads(raw_request(gateway, "GET", b"/v2/models/linear_regression")[1])["versions"][0]
    for path, operations in json.loads(document)["paths"].items():
        target = path.replace("{name}", "linear_regression").replace("{version}", version)
        for method in operations:
            body = b"" if method == "get" else V1_BODY if target.startswith("/v1") else V2_BODY
            assert raw_request(gateway, method.upper(), target.encode(), body)[0] < 500, f"{method} {target}"
    for target in MANAGEMENT_LOOKALIKES:
        for method in ("GET", "POST", "PUT", "DELETE"):
            status, answer = raw_request(gateway, method, target.encode(), b"{}")
            assert status in (404, 405), f"{method} {target}: {status}"
            assert json.loads(answer)["error"]
