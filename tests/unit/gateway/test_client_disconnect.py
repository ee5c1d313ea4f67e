"""A client that goes away mid-body (Content-Length: N, then fewer bytes and a disconnect) is the client's doing:
counted as 499 (nginx's "client closed request"), logged at INFO without a traceback, never a 5xx in the
metrics or the log, and answered with nothing on the lean path (no one is there to read it). At the ASGI level:
the server's `http.disconnect` message; tests/integration/test_gateway_disconnect.py does it with a socket."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from tests.unit.gateway.gateway_apps import gateway

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def leave_mid_body(app: Any, path: str) -> list[dict[str, Any]]:
    """POST `path` declaring 100 bytes, send 10, then disconnect; the messages the app sent back."""
    messages = [{"type": "http.request", "body": b'{"features"', "more_body": True}, {"type": "http.disconnect"}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"host", b"gateway"), (b"content-type", b"application/json"), (b"content-length", b"100"),
                         (b"x-request-id", b"gone-1")],
             "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8000), "state": {}}
    await app(scope, receive, send)  # returns: nothing is raised to the server, which would log it
    return sent


@pytest.mark.parametrize(("path", "template", "lean"), [
    ("/v1/models/reg/predict", "/v1/models/{name}/predict", True),
    ("/v2/models/reg/infer", "/v2/models/{name}/infer", True),
    ("/v2/models/reg/versions/1.0/infer", "/v2/models/{name}/versions/{version}/infer", True),
    ("/v1/models/reg/explain", "/v1/models/{name}/explain", False),  # a FastAPI route
])
async def test_a_client_gone_mid_body_is_a_499_not_a_5xx(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                                        path: str, template: str, lean: bool) -> None:
    caplog.set_level(logging.DEBUG)
    app = gateway(tmp_path)
    async with app.router.lifespan_context(app):
        sent = await leave_mid_body(app, path)
    if lean:
        assert sent == []
    registry = app.state.plane.metrics.registry
    counted = {s.labels["status"]: s.value for m in registry.collect() if m.name == "gateway_requests"
               for s in m.samples if s.name == "gateway_requests_total"}
    assert counted == {"499": 1.0}
    (access,) = [r for r in caplog.records if r.name == "serving.gateway.access"]
    assert (access.levelno, access.getMessage(), access.__dict__["request_id"]) == (
        logging.INFO, f"POST {template} 499", "gone-1")
    assert [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR] == []
