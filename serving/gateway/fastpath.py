"""The hot route without the framework: `POST /v1/models/{name}/predict` is recognised by one regular expression
and answered in pure ASGI, skipping Starlette's middleware stack and route scan and FastAPI's dependency solving
and request objects — the largest share of the gateway's CPU per prediction in py-spy profiles
(docs/benchmarks.md). Behaviour is the route's own: the same key check, then `routes_v1.answer_predict`, the
same error bodies; metrics and logs see the route's template, as when the router matched it."""

import re
from urllib.parse import parse_qs

from starlette.datastructures import Headers
from starlette.routing import BaseRoute
from starlette.types import Receive, Scope, Send

from serving.gateway.errors import GatewayError, error_response
from serving.gateway.routes_v1 import answer_predict
from serving.gateway.state import GatewayState

PREDICT_PATH = "/v1/models/{name}/predict"
_PREDICT = re.compile(r"/v1/models/([^/]+)/predict")  # {name} as Starlette matches it: one path segment


def predict_name(scope: Scope) -> str | None:
    """The model's name if this ASGI scope is a v1 prediction, else None: the one match a prediction costs."""
    if scope["type"] != "http" or scope["method"] != "POST":
        return None
    match = _PREDICT.fullmatch(scope["path"])
    return match.group(1) if match else None


def query_version(scope: Scope) -> str | None:
    """The `version` query parameter, as the route would read it (None when absent)."""
    query = scope.get("query_string", b"")
    if not query:
        return None
    values = parse_qs(query.decode("latin-1")).get("version")
    return values[0] if values else None


class FastPredict:
    """ASGI app: answers the v1 prediction that `predict_name` recognised (the name is in the scope's
    `path_params`, where the router would have put it)."""

    def __init__(self, route: BaseRoute) -> None:
        self.route = route  # the APIRoute of PREDICT_PATH, for the scope (metrics read its template)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = self.route
        name = scope["path_params"]["name"]
        state: GatewayState = scope["app"].state.gateway
        headers = Headers(scope=scope)
        try:
            state.keys.check(headers.get("authorization"))
            response = await answer_predict(state, name, headers, receive, query_version(scope))
        except GatewayError as error:
            response = error_response(error.status, error.message, error.headers)
        await response(scope, receive, send)
