"""The gateway application: the stack's only public entry point, in front of a private TorchServe."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from serving.gateway import errors, playground, routes_explain, routes_health, routes_v1, routes_v2
from serving.gateway.batching import Coalescer
from serving.gateway.catalog import Catalog
from serving.gateway.fastpath import PREDICT_PATH, FastPredict, predict_name
from serving.gateway.observability import GatewayMetrics, MetricsMiddleware, RequestIdMiddleware
from serving.gateway.security import Admission, ApiKeys
from serving.gateway.settings import GatewaySettings, get_settings
from serving.gateway.state import GatewayState
from serving.gateway.upstream import TorchServeClient
from serving.modelserver.settings import ModelServerSettings
from serving.modelserver.settings import get_settings as get_model_server_settings

log = logging.getLogger("serving.gateway")


class GatewayApp(FastAPI):
    """FastAPI, except that predictions skip Starlette's middleware stack (its error, body-limit and telemetry
    layers cost ~0.2-0.35 ms a request at 1 connection: docs/benchmarks.md). They go through `predict`: the same
    request ids, metrics, access log and 500 as every other route, around the fast path."""

    predict: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        name = predict_name(scope)
        if name is None or self.predict is None:
            await super().__call__(scope, receive, send)
            return
        scope["app"], scope["path_params"] = self, {"name": name}
        await self.predict(scope, receive, send)


def create_app(settings: GatewaySettings | None = None, model_server: ModelServerSettings | None = None) -> FastAPI:
    """Build the app for the models in the store; TorchServe is reached through `model_server`'s addresses."""
    settings = settings or get_settings()
    model_server = model_server or get_model_server_settings()
    catalog = Catalog.from_store(settings.gateway_model_store)
    metrics = GatewayMetrics(known_models=set(catalog.names()))
    keys = ApiKeys(settings.api_keys())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        upstream = (TorchServeClient(model_server.inference_url, model_server.management_url, model_server.ts_home,
                                     settings.gateway_upstream_timeout_s, settings.gateway_max_concurrency)
                    if settings.gateway_torchserve_url is None else
                    TorchServeClient(settings.gateway_torchserve_url, None, None, settings.gateway_upstream_timeout_s,
                                     settings.gateway_max_concurrency))
        batcher = Coalescer(upstream.predict, settings.gateway_batch_max_items, settings.gateway_batch_max_in_flight,
                            settings.gateway_batch_max_bytes, settings.gateway_upstream_timeout_s,
                            metrics.observe_batch)
        app.state.gateway = GatewayState(settings, catalog, upstream, keys, Admission(settings.gateway_max_concurrency),
                                         metrics, batcher)
        if not keys.enabled:
            log.warning("profile %s: API keys are OFF; every request is let in (local use only)",
                        settings.gateway_profile)
        log.info("gateway serving %d models: %s", len(catalog.names()), ", ".join(catalog.names()))
        try:
            yield
        finally:
            await upstream.aclose()

    app = GatewayApp(title="torchserve-stack gateway", version="0.1.0", lifespan=lifespan,
                  description="REST v1 and the Open Inference Protocol v2 in front of TorchServe.",
                  docs_url=None, redoc_url=None)  # FastAPI's docs load from a CDN; playground serves /docs
    errors.install(app)
    app.include_router(routes_health.router())
    v1 = routes_v1.router(catalog)
    app.include_router(v1)
    app.include_router(routes_v2.router(catalog))
    app.include_router(routes_explain.router(catalog))
    playground.install(app)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(RequestIdMiddleware)
    predict_route = next(r for r in v1.routes if getattr(r, "path", None) == PREDICT_PATH)
    app.predict = ServerErrorMiddleware(RequestIdMiddleware(MetricsMiddleware(
        FastPredict(predict_route), metrics=metrics)))
    return app
