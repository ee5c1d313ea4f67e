"""The gateway's route table is exactly the public API: a new route, say one that proxies TorchServe's management
API, fails this test until it is reviewed and listed here."""

from __future__ import annotations

from pathlib import Path

from serving.gateway.app import create_app
from serving.gateway.settings import GatewaySettings
from serving.modelserver import ModelServerSettings

PUBLIC_ROUTES = {
    ("GET", "/livez"), ("GET", "/readyz"), ("GET", "/metrics"),
    ("GET", "/v1/models"), ("GET", "/v1/models/{name}"), ("POST", "/v1/models/{name}/predict"),
    ("POST", "/v1/models/{name}/explain"),
    ("GET", "/v2/health/live"), ("GET", "/v2/health/ready"), ("GET", "/v2"),
    ("GET", "/v2/models/{name}"), ("GET", "/v2/models/{name}/versions/{version}"),
    ("GET", "/v2/models/{name}/ready"), ("GET", "/v2/models/{name}/versions/{version}/ready"),
    ("POST", "/v2/models/{name}/infer"), ("POST", "/v2/models/{name}/versions/{version}/infer"),
    ("POST", "/v2/models/{name}/generate"), ("POST", "/v2/models/{name}/versions/{version}/generate"),
    ("POST", "/v2/models/{name}/generate_stream"), ("POST", "/v2/models/{name}/versions/{version}/generate_stream"),
}


def test_the_gateway_serves_exactly_the_public_routes(tmp_path: Path) -> None:
    app = create_app(GatewaySettings(_env_file=None, gateway_model_store=tmp_path),
                     ModelServerSettings(ts_model_store=tmp_path, ts_home=tmp_path / "home"))
    # FastAPI includes routers lazily, so the route table is read from the OpenAPI document the app generates
    documented = {(method.upper(), path) for path, operations in app.openapi()["paths"].items()
                  for method in operations}
    assert documented == PUBLIC_ROUTES
