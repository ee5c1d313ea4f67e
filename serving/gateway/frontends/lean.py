"""The inference routes without the framework: every `POST` that predicts or infers (v1 predict, v2 infer with
and without a version) is recognised by its route's own regular expression and answered in pure ASGI, skipping
Starlette's middleware stack and route scan and FastAPI's dependency solving and request objects, the largest
share of the gateway's CPU per prediction in py-spy profiles (docs/benchmarks.md).

The routes stay declared on FastAPI, so the OpenAPI document describes them and the router could answer them
with the same endpoint; metrics and logs see the route's template, as when the router matched it."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import Receive, Scope, Send

from serving.gateway.core.dataplane import DataPlane
from serving.gateway.core.errors import GatewayError
from serving.gateway.frontends.rest_errors import error_response

# An endpoint of the lean path: the data plane, the path parameters, the request headers and the ASGI body.
Endpoint = Callable[[DataPlane, dict[str, str], Headers, Receive], Awaitable[Response]]
_SUFFIXES = ("/predict", "/infer")  # one cheap test turns away every other request before any expression


@dataclass(frozen=True)
class LeanRoute:
    """A documented route (for its template and expression) and the endpoint that answers it."""

    route: Any  # a Starlette/FastAPI route: has `path` (the template) and `path_regex`
    endpoint: Endpoint


def query_version(scope: Scope) -> str | None:
    """The `version` query parameter, as the router's request would read it (None when absent)."""
    query = scope.get("query_string", b"")
    if not query or b"version=" not in query:
        return None
    values = parse_qs(query.decode("latin-1")).get("version")
    return values[0] if values else None


class LeanInference:
    """The inference routes of every REST front-end, matched and answered without the framework."""

    def __init__(self, routes: list[LeanRoute]) -> None:
        self.routes = routes

    @classmethod
    def of(cls, routes: list[BaseRoute], endpoints: dict[str, Endpoint]) -> "LeanInference":
        """Pair each template in `endpoints` with its declared POST route among `routes`."""
        declared = {getattr(r, "path", None): r for r in routes if "POST" in (getattr(r, "methods", None) or ())}
        missing = sorted(set(endpoints) - set(declared))
        if missing:
            raise RuntimeError(f"lean endpoints without a declared route: {missing}")
        return cls([LeanRoute(declared[path], endpoint) for path, endpoint in endpoints.items()])

    def match(self, scope: Scope) -> tuple[LeanRoute, dict[str, str]] | None:
        """The route and path parameters if this ASGI scope is an inference request, else None."""
        if scope["type"] != "http" or scope["method"] != "POST" or not scope["path"].endswith(_SUFFIXES):
            return None
        for lean in self.routes:
            found = lean.route.path_regex.match(scope["path"])
            if found:
                return lean, found.groupdict()
        return None

    async def answer(self, plane: DataPlane, matched: tuple[LeanRoute, dict[str, str]], scope: Scope,
                     receive: Receive, send: Send) -> None:
        """Answer a matched request; a domain error becomes its `{"error": ...}` answer."""
        lean, params = matched
        scope["route"], scope["path_params"] = lean.route, params  # where the router would have put them
        version = query_version(scope)
        if version is not None and "version" not in params:  # v1's ?version=1.1 (a path's version comes first)
            params = {**params, "version": version}
        try:
            response = await lean.endpoint(plane, params, Headers(scope=scope), receive)
        except GatewayError as error:
            response = error_response(error.status, error.message, error.headers)
        await response(scope, receive, send)
