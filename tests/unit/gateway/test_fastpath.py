"""The v1 prediction shortcut: only `POST /v1/models/{name}/predict` is taken from the router and from Starlette's
middleware stack, and it answers with the route's own checks, error bodies, request ids and metrics."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.routing import Route

from serving.gateway import fastpath
from serving.gateway.app import create_app
from serving.gateway.errors import ModelNotFound
from serving.gateway.fastpath import PREDICT_PATH, FastPredict
from serving.gateway.security import ApiKeys
from serving.gateway.settings import GatewaySettings
from serving.modelserver import ModelServerSettings


class Catalog:
    def get(self, name: str) -> Any:
        raise ModelNotFound(f"model {name!r} not found")


async def call(app: Any, path_params: dict[str, str], headers: dict[str, str] | None = None) -> tuple[int, bytes, dict]:
    state = SimpleNamespace(keys=ApiKeys(("k" * 16,)), catalog=Catalog(),
                            lifecycle=SimpleNamespace(pick=lambda name, version, key: Catalog().get(name)),
                            settings=SimpleNamespace(gateway_max_body_bytes=100))
    scope = {"type": "http", "method": "POST", "path": "/v1/models/x/predict", "path_params": path_params,
             "app": SimpleNamespace(state=SimpleNamespace(gateway=state)),
             "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]}
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:]), scope


async def inner(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 299, "headers": []})


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.parametrize(("method", "path"), [("GET", "/v1/models/x/predict"), ("POST", "/v1/models/x/predict/"),
                                              ("POST", "/v1/models/a/b/predict"), ("POST", "/v2/models/x/infer"),
                                              ("POST", "/v1/models//predict")])
def test_everything_else_is_left_to_the_router(method: str, path: str) -> None:
    assert fastpath.predict_name({"type": "http", "method": method, "path": path}) is None


def test_a_prediction_is_named_by_its_one_path_segment() -> None:
    assert fastpath.predict_name({"type": "http", "method": "POST", "path": "/v1/models/mlp.v2/predict"}) == "mlp.v2"
    assert fastpath.predict_name({"type": "websocket", "path": "/v1/models/x/predict"}) is None


@pytest.mark.anyio
async def test_a_prediction_gets_the_key_check_then_the_catalog() -> None:
    app = FastPredict(Route(PREDICT_PATH, inner))
    status, body, scope = await call(app, {"name": "x"})
    assert (status, json.loads(body)) == (401, {"error": "missing API key: send 'Authorization: Bearer <key>'"})
    assert (scope["route"].path, scope["path_params"]) == (PREDICT_PATH, {"name": "x"})  # what metrics read
    status, body, _ = await call(app, {"name": "x"}, {"Authorization": "Bearer " + "k" * 16})
    assert (status, json.loads(body)) == (404, {"error": "model 'x' not found"})


@pytest.fixture
def gateway_app(tmp_path: Path) -> FastAPI:
    return create_app(GatewaySettings(_env_file=None, gateway_model_store=tmp_path),
                      ModelServerSettings(ts_model_store=tmp_path, ts_home=tmp_path / "home"))


async def _requests(app: FastAPI, *calls: tuple[str, str, dict[str, Any]]) -> list[httpx.Response]:
    """`calls` (method, path, httpx options) in order, against the app with its lifespan running."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            return [await client.request(method, path, **options) for method, path, options in calls]


@pytest.mark.anyio
async def test_predictions_skip_starlettes_middleware_stack_and_keep_ids_and_metrics(gateway_app: FastAPI) -> None:
    (answer,) = await _requests(gateway_app, ("POST", "/v1/models/nope/predict",
                                              {"json": {"features": [1.0]}, "headers": {"X-Request-ID": "abc-123"}}))
    assert (answer.status_code, answer.json()) == (404, {"error": "model 'nope' not found"})
    assert answer.headers["x-request-id"] == "abc-123"
    assert gateway_app.middleware_stack is None  # Starlette builds it at the first request that needs it
    (metrics,) = await _requests(gateway_app, ("GET", "/metrics", {}))
    assert gateway_app.middleware_stack is not None
    assert 'route="/v1/models/{name}/predict",status="404"' in metrics.text.replace(" ", "")


@pytest.mark.anyio
async def test_a_bug_in_a_prediction_is_the_same_500(gateway_app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(*args: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(fastpath, "answer_predict", broken)
    answer, metrics = await _requests(gateway_app, ("POST", "/v1/models/nope/predict", {"json": {"features": [1.0]}}),
                                      ("GET", "/metrics", {}))
    assert (answer.status_code, answer.text) == (500, "Internal Server Error")
    assert 'route="/v1/models/{name}/predict",status="500"' in metrics.text.replace(" ", "")
