"""The v1 prediction shortcut: only `POST /v1/models/{name}/predict` is taken from the router, and it answers
with the route's own checks and error bodies."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest
from starlette.routing import Route

from serving.gateway.errors import ModelNotFound
from serving.gateway.fastpath import PREDICT_PATH, FastPredict
from serving.gateway.security import ApiKeys


class Catalog:
    def get(self, name: str) -> Any:
        raise ModelNotFound(f"model {name!r} not found")


async def call(app: Any, method: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, dict]:
    state = SimpleNamespace(keys=ApiKeys(("k" * 16,)), catalog=Catalog(),
                            settings=SimpleNamespace(gateway_max_body_bytes=100))
    scope = {"type": "http", "method": method, "path": path, "app": SimpleNamespace(state=SimpleNamespace(
        gateway=state)), "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]}
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:]), scope


async def inner(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 299, "headers": []})
    await send({"type": "http.response.body", "body": b"router"})


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
@pytest.mark.parametrize(("method", "path"), [("GET", "/v1/models/x/predict"), ("POST", "/v1/models/x/predict/"),
                                              ("POST", "/v1/models/a/b/predict"), ("POST", "/v2/models/x/infer"),
                                              ("POST", "/v1/models//predict")])
async def test_everything_else_goes_to_the_router(method: str, path: str) -> None:
    assert (await call(FastPredict(inner, Route(PREDICT_PATH, inner)), method, path))[:2] == (299, b"router")


@pytest.mark.anyio
async def test_a_prediction_gets_the_key_check_then_the_catalog() -> None:
    app = FastPredict(inner, Route(PREDICT_PATH, inner))
    status, body, scope = await call(app, "POST", "/v1/models/x/predict")
    assert (status, json.loads(body)) == (401, {"error": "missing API key: send 'Authorization: Bearer <key>'"})
    assert (scope["route"].path, scope["path_params"]) == (PREDICT_PATH, {"name": "x"})  # what metrics read
    status, body, _ = await call(app, "POST", "/v1/models/x/predict", {"Authorization": "Bearer " + "k" * 16})
    assert (status, json.loads(body)) == (404, {"error": "model 'x' not found"})
