"""The admin API is off unless admin keys are configured, and an admin key is never an API key."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from serving.gateway.app import create_app
from serving.gateway.frontends import admin as admin_routes
from serving.gateway.settings import GatewaySettings
from serving.modelserver import ModelServerSettings
from tests.unit.lifecycle.admin_app import ADMIN_KEY, API_KEY

pytestmark = pytest.mark.anyio


async def admin_status(tmp_path: Path, **settings: str) -> tuple[int, dict[str, str]]:
    app = create_app(GatewaySettings(_env_file=None, gateway_model_store=tmp_path, **settings),  # type: ignore[arg-type]
                     ModelServerSettings(ts_model_store=tmp_path, ts_home=tmp_path / "home"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as http:
        answer = await http.get("/admin/v1/models", headers={"Authorization": f"Bearer {API_KEY}",
                                                             "X-Request-ID": "admin-1"})
    return answer.status_code, answer.json()


async def test_without_admin_keys_the_admin_api_does_not_exist(tmp_path: Path) -> None:
    assert await admin_status(tmp_path) == (404, {"error": "Not Found", "request_id": "admin-1"})


async def test_with_admin_keys_an_api_key_is_refused_there(tmp_path: Path) -> None:
    assert await admin_status(tmp_path, gateway_admin_keys=ADMIN_KEY, gateway_api_keys=API_KEY) == (
        401, {"error": "invalid admin key", "request_id": "admin-1"})


def test_an_admin_key_that_is_also_an_api_key_is_refused() -> None:
    with pytest.raises(ValueError, match="an admin key must not also be an API key"):
        GatewaySettings(_env_file=None, gateway_api_keys=f"{API_KEY},{ADMIN_KEY}",  # type: ignore[call-arg]
                        gateway_admin_keys=ADMIN_KEY)


def test_short_admin_keys_are_refused_in_production() -> None:
    with pytest.raises(ValueError, match="admin keys must be at least 16 characters in the production profile"):
        GatewaySettings(_env_file=None, gateway_profile="production", gateway_host="0.0.0.0",  # type: ignore[call-arg]
                        gateway_api_keys=API_KEY, gateway_admin_keys="short")


ADMIN_ROUTES = {
    ("GET", "/admin/v1/models"), ("POST", "/admin/v1/models"),
    ("PUT", "/admin/v1/models/{name}/versions/{version}/workers"),
    ("DELETE", "/admin/v1/models/{name}/versions/{version}"), ("PUT", "/admin/v1/models/{name}/policy"),
    ("POST", "/admin/v1/models/{name}/promote"), ("POST", "/admin/v1/models/{name}/rollback"),
}


async def test_the_admin_api_is_exactly_these_routes_and_left_out_of_the_public_document(tmp_path: Path) -> None:
    declared = {(method, route.path) for route in admin_routes.router().routes
                for method in getattr(route, "methods", ())}
    assert declared == ADMIN_ROUTES
    app = create_app(GatewaySettings(_env_file=None, gateway_model_store=tmp_path,  # type: ignore[call-arg]
                                     gateway_admin_keys=ADMIN_KEY),
                     ModelServerSettings(ts_model_store=tmp_path, ts_home=tmp_path / "home"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as http:
        for method, path in ADMIN_ROUTES:
            answer = await http.request(method, path.format(name="m", version="1.0"))
            assert answer.status_code == 401, (method, path)
        assert (await http.get("/admin/v1/anything-else")).status_code == 404
    assert not [path for path in app.openapi()["paths"] if path.startswith("/admin")]
