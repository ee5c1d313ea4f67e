"""The hot route without the framework: `POST /v1/models/{name}/predict` is recognised by one regular expression
and answered in pure ASGI, skipping Starlette's middleware stack and route scan and FastAPI's dependency solving
and request objects — the largest share of the gateway's CPU per prediction in py-spy profiles
(docs/benchmarks.md). Behaviour is the route's own: the same key check, then `routes_v1.answer_predict`, the
same error bodies; metrics and logs see the route's template, as when the router matched it."""

import re

from starlette.datastructures import Headers
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from serving.gateway.errors import GatewayError, error_response
from serving.gateway.routes_v1 import answer_predict
from serving.gateway.state import GatewayState

PREDICT_PATH = "/v1/models/{name}/predict"
_PREDICT = re.compile(r"/v1/models/([^/]+)/predict")  # {name} as Starlette matches it: one path segment


def is_predict(scope: Scope) -> bool:
    """Whether this ASGI scope is a v1 prediction."""
    return scope["type"] == "http" and scope["method"] == "POST" and _PREDICT.fullmatch(scope["path"]) is not None


class FastPredict:
    """ASGI middleware: answers v1 predictions itself and passes everything else to the app."""

    def __init__(self, app: ASGIApp, route: BaseRoute) -> None:
        self.app = app
        self.route = route  # the APIRoute of PREDICT_PATH, for the scope (metrics read its template)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = _PREDICT.fullmatch(scope["path"]) if scope["type"] == "http" else None
        if match is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        name = match.group(1)
        scope["route"], scope["path_params"] = self.route, {"name": name}
        state: GatewayState = scope["app"].state.gateway
        headers = Headers(scope=scope)
        try:
            state.keys.check(headers.get("authorization"))
            response = await answer_predict(state, name, headers, receive)
        except GatewayError as error:
            response = error_response(error.status, error.message, error.headers)
        await response(scope, receive, send)
