"""The lean path: only the inference routes (`POST /v1/models/{name}/predict` and v2 infer, with and without a
version) are taken from the router and from Starlette's middleware stack, and they answer with the routes' own
checks, error bodies, request ids and metrics."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from serving.gateway.app import GatewayApp, create_app
from serving.gateway.core.admission import ApiKeys
from serving.gateway.core.catalog import Catalog
from serving.gateway.core.dataplane import DataPlane
from serving.gateway.frontends.lean import LeanInference
from serving.gateway.frontends.rest_v1 import PREDICT_PATH
from serving.gateway.frontends.rest_v2 import INFER_PATH, INFER_VERSIONED_PATH
from serving.gateway.settings import GatewaySettings
from serving.modelserver import ModelServerSettings

UNEXPECTED = "the gateway failed unexpectedly; its log has the details under this request's id"


@pytest.fixture
def gateway_app(tmp_path: Path) -> GatewayApp:
    app = create_app(GatewaySettings(_env_file=None, gateway_model_store=tmp_path),
                     ModelServerSettings(ts_model_store=tmp_path, ts_home=tmp_path / "home"))
    assert isinstance(app, GatewayApp)
    return app


@pytest.fixture
def lean(gateway_app: GatewayApp) -> LeanInference:
    assert gateway_app.lean is not None
    return gateway_app.lean


def matched(lean: LeanInference, method: str, path: str, kind: str = "http") -> tuple[str, dict[str, str]] | None:
    found = lean.match({"type": kind, "method": method, "path": path})
    return None if found is None else (found[0].route.path, found[1])


@pytest.mark.parametrize(("method", "path"), [("GET", "/v1/models/x/predict"), ("POST", "/v1/models/x/predict/"),
                                              ("POST", "/v1/models/a/b/predict"), ("POST", "/v1/models//predict"),
                                              ("GET", "/v2/models/x/infer"), ("POST", "/v2/models/x/infer/"),
                                              ("POST", "/v2/models/x/versions//infer"), ("POST", "/v2/models/x"),
                                              ("POST", "/v2/models/a/b/infer"), ("POST", "/v1/models/x/infer")])
def test_everything_else_is_left_to_the_router(lean: LeanInference, method: str, path: str) -> None:
    assert matched(lean, method, path) is None


def test_inference_is_named_by_its_path_segments(lean: LeanInference) -> None:
    assert matched(lean, "POST", "/v1/models/mlp.v2/predict") == (PREDICT_PATH, {"name": "mlp.v2"})
    assert matched(lean, "POST", "/v2/models/mlp/infer") == (INFER_PATH, {"name": "mlp"})
    assert matched(lean, "POST", "/v2/models/mlp/versions/3/infer") == (INFER_VERSIONED_PATH,
                                                                        {"name": "mlp", "version": "3"})
    assert matched(lean, "POST", "/v1/models/x/predict", kind="websocket") is None


async def call(lean: LeanInference, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, dict]:
    catalog = Catalog([])
    plane: Any = SimpleNamespace(keys=ApiKeys(("k" * 16,)), catalog=catalog,
                                 lifecycle=SimpleNamespace(pick=lambda name, version, key: catalog.get(name, version)),
                                 settings=SimpleNamespace(gateway_max_body_bytes=100))
    plane.admit = DataPlane.admit.__get__(plane)
    scope = {"type": "http", "method": "POST", "path": path,
             "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]}
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    found = lean.match(scope)
    assert found is not None
    await lean.answer(plane, found, scope, receive, send)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:]), scope


@pytest.mark.anyio
@pytest.mark.parametrize(("path", "template"), [("/v1/models/x/predict", PREDICT_PATH),
                                                ("/v2/models/x/infer", INFER_PATH)])
async def test_inference_gets_the_key_check_then_the_catalog(lean: LeanInference, path: str, template: str) -> None:
    status, body, scope = await call(lean, path)
    assert (status, json.loads(body)) == (401, {"error": "missing API key: send 'Authorization: Bearer <key>'"})
    assert (scope["route"].path, scope["path_params"]) == (template, {"name": "x"})  # what metrics read
    status, body, _ = await call(lean, path, {"Authorization": "Bearer " + "k" * 16})
    assert (status, json.loads(body)) == (404, {"error": "model 'x' not found"})


async def _requests(app: GatewayApp, *calls: tuple[str, str, dict[str, Any]]) -> list[httpx.Response]:
    """`calls` (method, path, httpx options) in order, against the app with its lifespan running."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            return [await client.request(method, path, **options) for method, path, options in calls]


@pytest.mark.anyio
async def test_inference_skips_starlettes_middleware_stack_and_keeps_ids_and_metrics(gateway_app: GatewayApp) -> None:
    answers = await _requests(gateway_app, *(("POST", path, {"json": {"features": [1.0]},
                                                               "headers": {"X-Request-ID": f"abc-{i}"}})
                                               for i, path in enumerate(("/v1/models/nope/predict",
                                                                         "/v2/models/nope/infer",
                                                                         "/v2/models/nope/versions/1/infer"))))
    for i, answer in enumerate(answers):
        assert (answer.status_code, answer.json()) == (404, {"error": "model 'nope' not found",
                                                             "request_id": f"abc-{i}"})
        assert answer.headers["x-request-id"] == f"abc-{i}"
    assert gateway_app.middleware_stack is None  # Starlette builds it at the first request that needs it
    (metrics,) = await _requests(gateway_app, ("GET", "/metrics", {}))
    assert gateway_app.middleware_stack is not None
    text = metrics.text.replace(" ", "")
    for template in (PREDICT_PATH, INFER_PATH, INFER_VERSIONED_PATH):
        assert f'{{method="POST",model="unknown",route="{template}",status="404"}}1.0' in text


@pytest.mark.anyio
async def test_a_bug_in_inference_is_the_same_500(gateway_app: GatewayApp, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(DataPlane, "admit", broken)
    predict, infer, metrics = await _requests(
        gateway_app, ("POST", "/v1/models/nope/predict", {"json": {"features": [1.0]}}),
        ("POST", "/v2/models/nope/infer", {"json": {"inputs": []}}), ("GET", "/metrics", {}))
    for answer in (predict, infer):
        assert (answer.status_code, answer.json()) == (500, {"error": UNEXPECTED,
                                                             "request_id": answer.headers["x-request-id"]})
    text = metrics.text.replace(" ", "")
    assert 'route="/v1/models/{name}/predict",status="500"' in text
    assert 'route="/v2/models/{name}/infer",status="500"' in text
