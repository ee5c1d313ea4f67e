"""The playground's and the docs' static pages as the gateway serves them: no key needed, a strict policy on
each, no inline script, nothing from another origin, and only the files that exist."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from serving.gateway.app import create_app
from serving.gateway.playground import DOCS_POLICY, PAGE_POLICY, STATIC, StaticAssets
from serving.gateway.settings import GatewaySettings
from serving.modelserver import ModelServerSettings

OWN_FILES = [p for p in sorted(STATIC.rglob("*")) if p.is_file() and "vendor" not in p.parts]


class Browser:
    """GETs without a key against the app, its lifespan running: the pages are public, the API is not."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def get(self, path: str) -> httpx.Response:
        return asyncio.run(self._get(path))

    async def _get(self, path: str) -> httpx.Response:
        async with self.app.router.lifespan_context(self.app):
            transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
                return await http.get(path)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Browser:
    store = tmp_path_factory.mktemp("store")
    settings = GatewaySettings(_env_file=None, gateway_model_store=store, gateway_api_keys="k" * 24)
    return Browser(create_app(settings, ModelServerSettings(ts_model_store=store, ts_home=store / "home")))


@pytest.mark.parametrize("path", ["/", "/playground"])
def test_the_page_is_served_without_a_key_under_a_strict_policy(client: Browser, path: str) -> None:
    answer = client.get(path)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    assert answer.headers["content-security-policy"] == PAGE_POLICY
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.text == (STATIC / "index.html").read_text(encoding="utf-8")
    assert client.get("/v1/models").status_code == 401


def test_the_page_policy_allows_no_inline_script_style_or_other_origin() -> None:
    directives = dict(d.strip().split(" ", 1) for d in PAGE_POLICY.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == directives["style-src"] == directives["connect-src"] == "'self'"
    assert "unsafe" not in PAGE_POLICY
    assert "http" not in PAGE_POLICY
    assert "unsafe-eval" not in DOCS_POLICY
    assert "http" not in DOCS_POLICY


@pytest.mark.parametrize("page", ["index.html", "docs.html"])
def test_pages_have_no_inline_script_or_handler_and_load_only_served_files(page: str) -> None:
    html = (STATIC / page).read_text(encoding="utf-8")
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert scripts
    assert all(re.search(r'\ssrc="/playground/static/[^"]+"', tag) for tag in scripts)
    assert re.findall(r"<script\b[^>]*>([^<]+)</script>", html) == []
    assert re.findall(r"\son[a-z]+=", html) == []
    assert "style=" not in html
    names = set(StaticAssets(STATIC).names())
    for url in re.findall(r'(?:src|href)="(/playground/static/[^"]+)"', html):
        assert url.removeprefix("/playground/static/") in names


@pytest.mark.parametrize("path", OWN_FILES, ids=lambda p: p.name)
def test_the_playground_names_no_other_origin(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert re.findall(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text) == [], path
    assert re.findall(r"\.(?:innerHTML|outerHTML)\s*=|insertAdjacentHTML|document\.write|\beval\(|new Function",
                      text) == [], path
    assert "localStorage." not in text


def test_scripts_import_only_their_neighbours() -> None:
    for path in (STATIC / "js").glob("*.js"):
        for module in re.findall(r'^import .* from "([^"]+)";', path.read_text(encoding="utf-8"), re.M):
            assert module.startswith("./"), (path.name, module)
            assert (STATIC / "js" / module).is_file(), (path.name, module)


def test_assets_are_served_by_exact_name_only(client: Browser) -> None:
    script = client.get("/playground/static/js/main.js")
    assert (script.status_code, script.headers["content-type"]) == (200, "text/javascript; charset=utf-8")
    for missing in ("/playground/static/nope.js", "/playground/static/../__init__.py",
                    "/playground/static/%2e%2e/__init__.py", "/playground/static/vendor/swagger-ui/LICENSE"):
        answer = client.get(missing)
        assert answer.status_code == 404, missing
        assert answer.json()["error"].startswith(("no playground asset", "Not Found"))


def test_the_docs_are_served_offline(client: Browser) -> None:
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert docs.headers["content-security-policy"] == DOCS_POLICY
    bundle = client.get("/playground/static/vendor/swagger-ui/swagger-ui-bundle.js")
    assert bundle.status_code == 200
    assert "SwaggerUIBundle" in bundle.text
    assert client.get("/redoc").status_code == 404  # FastAPI's redoc loads from a CDN: not served
    licence = STATIC / "vendor" / "swagger-ui" / "LICENSE"
    assert "Apache License" in licence.read_text(encoding="utf-8")
