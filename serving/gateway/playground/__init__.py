"""The playground (`GET /` and `/playground`) and the API docs (`GET /docs`): static pages served by the gateway
itself, with every asset from this folder (nothing from a CDN, so they work offline and in an air-gapped cluster).

The pages are served without an API key; every call they make to the API needs one. A strict
Content-Security-Policy keeps them to this origin and to the scripts shipped here: no inline script, no eval."""

from pathlib import Path

from fastapi import APIRouter, FastAPI, HTTPException, Response

STATIC = Path(__file__).parent / "static"
MEDIA_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
               ".css": "text/css; charset=utf-8", ".txt": "text/plain; charset=utf-8"}
# The playground draws on canvases and shows generated PNGs as data: URLs; it calls only this origin.
PAGE_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
               "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
# Swagger UI (React) sets style attributes as it renders, and shows its own icons as data: URLs.
DOCS_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
               "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
ASSET_PREFIX = "/playground/static/"


class StaticAssets:
    """The files under static/, read once at start-up and answered by exact name only (no path is ever built
    from a request), each with its policy and security headers."""

    def __init__(self, root: Path) -> None:
        self._files = {path.relative_to(root).as_posix(): path.read_bytes() for path in sorted(root.rglob("*"))
                       if path.is_file() and path.suffix in MEDIA_TYPES}

    def names(self) -> list[str]:
        """Every served asset, relative to static/."""
        return list(self._files)

    def response(self, name: str, policy: str = PAGE_POLICY) -> Response:
        """The asset, or 404 with the gateway's error body."""
        content = self._files.get(name)
        if content is None:
            raise HTTPException(404, f"no playground asset {name[:100]!r}")
        headers = {"Content-Security-Policy": policy, "X-Content-Type-Options": "nosniff",
                   "Referrer-Policy": "no-referrer", "Cache-Control": "no-cache"}
        return Response(content, media_type=MEDIA_TYPES[Path(name).suffix], headers=headers)


def router(assets: StaticAssets | None = None) -> APIRouter:
    """The page, its assets and the offline docs; none of them is in the OpenAPI document."""
    assets = assets or StaticAssets(STATIC)
    api = APIRouter(include_in_schema=False)

    @api.get("/")
    @api.get("/playground")
    async def page() -> Response:
        return assets.response("index.html")

    @api.get("/docs")
    async def docs() -> Response:
        return assets.response("docs.html", DOCS_POLICY)

    @api.get(ASSET_PREFIX + "{name:path}")
    async def asset(name: str) -> Response:
        return assets.response(name, DOCS_POLICY if name.startswith("vendor/swagger-ui/") else PAGE_POLICY)

    return api


def install(app: FastAPI) -> None:
    """Serve the playground and the offline docs (the app is built with FastAPI's CDN-based docs turned off)."""
    app.include_router(router())
