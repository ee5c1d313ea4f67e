"""A gateway-sized app with only the admin API, over a real catalog of small archives and a recorded model
server: what the admin tests drive in-process (no server starts)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from fastapi import FastAPI

from serving.gateway.core.admission import ApiKeys
from serving.gateway.core.catalog import Catalog
from serving.gateway.core.lifecycle.control import Lifecycle
from serving.gateway.frontends import admin as admin_routes
from serving.gateway.frontends import rest_errors as errors

ADMIN_KEY = "admin-key-0123456789abcdef"
API_KEY = "inference-key-0123456789"


def write_archive(store: Path, file_name: str, name: str, version: str) -> None:
    with zipfile.ZipFile(store / file_name, "w") as archive:
        archive.writestr("signature.json", json.dumps({"name": name, "kind": "regression", "version": version}))
        archive.writestr("metrics.json", "{}")
        archive.writestr("model_card.md", f"# Model card: {name} {version}")


class RecordedModelServer:
    """TorchServe's management API as the admin API sees it: every call recorded, answered 200 (or `refuse`)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.refuse: str | None = None

    async def manage(self, method: str, path: str) -> tuple[int, str]:
        self.calls.append((method, path))
        if self.refuse is not None:
            return 500, self.refuse
        return 200, "ok"


def admin_app(store: Path) -> tuple[FastAPI, Lifecycle, RecordedModelServer]:
    """The app, its lifecycle (model `m` 1.0 served; `m-1.1.mar` in the store, not served) and the server."""
    write_archive(store, "m.mar", "m", "1.0")
    catalog = Catalog.from_store(store)
    write_archive(store, "m-1.1.mar", "m", "1.1")
    server = RecordedModelServer()
    control = Lifecycle(catalog, store, server.manage, drain_timeout_s=5.0)
    app = FastAPI()
    errors.install(app)
    app.include_router(admin_routes.router())
    app.state.admin_keys = ApiKeys((ADMIN_KEY,))
    app.state.lifecycle = control
    return app, control, server
