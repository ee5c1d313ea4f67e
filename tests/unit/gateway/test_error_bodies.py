"""Every error answer of every route is the gateway's one error body, `{"error", "request_id"}`, with the id in
the X-Request-ID header too: domain errors, FastAPI's own (unknown route 404, 405, validation 400) and an
unexpected exception (500), on the lean path and off it. An unexpected exception is logged once, traceback
and request id on its access line, and never raised to the server (which would log it again)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from serving.gateway.core.catalog import Catalog
from serving.gateway.core.dataplane import DataPlane
from serving.gateway.frontends import health
from tests.unit.gateway.gateway_apps import ADMIN_KEY, error_of, gateway, running

pytestmark = pytest.mark.anyio
UNEXPECTED = "the gateway failed unexpectedly; its log has the details under this request's id"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_framework_and_domain_errors_have_the_one_body(tmp_path: Path) -> None:
    async with running(gateway(tmp_path)) as client:
        answers = [
            (await client.get("/no/such/route"), (404, "Not Found")),
            (await client.delete("/livez"), (405, "Method Not Allowed")),
            (await client.get("/v1/models/reg/predict"), (405, "Method Not Allowed")),  # the lean path's, not POST
            (await client.post("/admin/v1/models", json={"archive": 5}, headers=ADMIN),
             (400, "invalid request: archive: Input should be a valid string")),
            (await client.get("/admin/v1/models"), (401, "missing admin key: send 'Authorization: Bearer "
                                                         "<admin key>'")),
            (await client.get("/v1/models/nope"), (404, "model 'nope' not found")),
            (await client.post("/v1/models/nope/predict", json={}), (404, "model 'nope' not found")),
            (await client.post("/v2/models/reg/infer", content=b"{", headers={"X-Request-ID": "mine-1"}),
             (400, "the request body is not valid JSON: Expecting property name enclosed in double quotes: "
                   "line 1 column 2 (char 1)")),
        ]
    for answer, expected in answers:
        assert error_of(answer) == expected, answer.request.url
    assert answers[-1][0].headers["x-request-id"] == "mine-1"


@pytest.mark.parametrize(("method", "path", "broken"), [
    ("POST", "/v1/models/reg/predict", (DataPlane, "admit")),  # the lean path
    ("POST", "/v2/models/reg/infer", (DataPlane, "admit")),  # the lean path
    ("GET", "/v1/models/reg", (Catalog, "get")),  # a FastAPI route
    ("GET", "/livez", None),  # a FastAPI route, its endpoint replaced below
])
async def test_an_unexpected_exception_is_a_500_error_body_logged_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, method: str, path: str,
        broken: tuple[type, str] | None) -> None:
    caplog.set_level(logging.INFO)

    def bug(*args: Any) -> Any:
        raise RuntimeError("a bug")

    if broken is None:
        monkeypatch.setattr(health, "APIRouter", _router_whose_livez_fails(monkeypatch))
    app = gateway(tmp_path)
    async with running(app) as client:
        if broken is not None:
            monkeypatch.setattr(*broken, bug)
        answer = await client.request(method, path, json={"features": [[1.0, 2.0]]},
                                      headers={"X-Request-ID": "bug-1"})
        monkeypatch.undo()
    assert error_of(answer) == (500, UNEXPECTED)
    assert answer.headers["x-request-id"] == "bug-1"
    (logged,) = [r for r in caplog.records if r.exc_info]  # once: the access line, with the traceback
    assert (logged.name, logged.levelno, logged.getMessage()) == ("serving.gateway.access", logging.ERROR,
                                                                  f"{method} {_template(path)} 500")
    assert str(logged.exc_info[1]) == "a bug"  # type: ignore[index]
    assert logged.__dict__["request_id"] == "bug-1"
    labels = {"model": "reg" if "/reg" in path else "-", "route": _template(path), "method": method, "status": "500"}
    assert app.state.plane.metrics.registry.get_sample_value("gateway_requests_total", labels) == 1


def _template(path: str) -> str:
    return path.replace("/reg/", "/{name}/").replace("/reg", "/{name}")


def _router_whose_livez_fails(monkeypatch: pytest.MonkeyPatch) -> Any:
    from fastapi import APIRouter

    class Router(APIRouter):
        def get(self, path: str, **options: Any) -> Any:
            declare = super().get(path, **options)
            if path != "/livez":
                return declare

            def replaced(endpoint: Any) -> Any:
                async def livez() -> None:
                    raise RuntimeError("a bug")
                return declare(livez)
            return replaced

    return Router
