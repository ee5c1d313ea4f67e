"""The gateway application: the stack's only public entry point, in front of a private TorchServe.

It composes the three parts: the core's data plane (serving/gateway/core/, built in the lifespan), the REST
and gRPC front-ends (serving/gateway/frontends/) and, around every HTTP request, the observability edge
(serving/gateway/observability/: request id, traces when on, metrics, access log) with one 500 guard
(frontends/rest_errors.py) between the request id and the rest. The edge is built once: inference takes the lean
path under it, everything else FastAPI's router.
"""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from serving.gateway import playground
from serving.gateway.core.admission import Admission, ApiKeys
from serving.gateway.core.batching import Coalescer
from serving.gateway.core.catalog import Catalog
from serving.gateway.core.dataplane import DataPlane
from serving.gateway.core.lifecycle.assemble import lifecycle_runtime
from serving.gateway.core.lifecycle.metrics import VersionMetrics
from serving.gateway.core.upstream import TorchServeClient
from serving.gateway.core.upstream_map import missing_versions
from serving.gateway.frontends import admin, generate, health, rest_errors, rest_v1, rest_v2
from serving.gateway.frontends.grpc_v2 import server as grpc_v2
from serving.gateway.frontends.lean import LeanInference
from serving.gateway.observability import GatewayMetrics, MetricsMiddleware, RequestIdMiddleware
from serving.gateway.observability.tracing import Tracing
from serving.gateway.observability.tracing_http import TracingMiddleware
from serving.gateway.settings import GatewaySettings, get_settings
from serving.gateway.streaming.limits import StreamHub, StreamLimits, StreamSlots
from serving.gateway.streaming.metrics import StreamMetrics
from serving.modelserver.keys import KEY_FILE
from serving.modelserver.settings import ModelServerSettings
from serving.modelserver.settings import get_settings as get_model_server_settings

log = logging.getLogger("serving.gateway")


class GatewayApp(FastAPI):
    """FastAPI, except that every HTTP request first passes the gateway's one edge (500 guard, request id,
    metrics, access log), and inference then skips Starlette's middleware stack and FastAPI's routing (their
    error, body-limit and telemetry layers and dependency solving cost more than the rest of a prediction:
    docs/benchmarks.md)."""

    edge: ASGIApp | None = None
    lean: LeanInference | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.edge is not None:
            await self.edge(scope, receive, send)
        else:  # lifespan, and an app not yet composed
            await super().__call__(scope, receive, send)

    async def route(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The edge's inner app: the lean path for inference, FastAPI for the rest."""
        matched = self.lean.match(scope) if self.lean is not None else None
        if matched is None:
            await super().__call__(scope, receive, send)
            return
        assert self.lean is not None
        await self.lean.answer(self.state.plane, matched, scope, receive, send)


def build_plane(settings: GatewaySettings, model_server: ModelServerSettings, catalog: Catalog,
                metrics: GatewayMetrics, stream_metrics: StreamMetrics, by_version: VersionMetrics,
                tracing: Tracing | None = None) -> DataPlane:
    """The data plane, with its TorchServe client and its lifecycle; close `plane.upstream` and `plane.lifecycle`
    when done."""
    upstream = torchserve_client(settings, model_server)
    batcher = Coalescer(upstream.predict, settings.gateway_batch_max_items, settings.gateway_batch_max_in_flight,
                        settings.gateway_batch_max_bytes, settings.gateway_upstream_timeout_s, metrics.observe_batch)
    limits = StreamLimits.of(settings)
    streams = StreamHub(limits, StreamSlots(limits.max_streams), stream_metrics)
    return DataPlane(settings, catalog, upstream, ApiKeys(settings.api_keys()),
                     Admission(settings.gateway_max_concurrency), metrics, batcher,
                     lifecycle_runtime(settings, catalog, upstream, by_version), streams, tracing)


def torchserve_client(settings: GatewaySettings, model_server: ModelServerSettings) -> TorchServeClient:
    """The local TorchServe that the TS_* settings describe (its key file and management API), or the one of
    GATEWAY_TORCHSERVE_URL in another container: its management API and key file when configured, and the
    versions that have a model server of their own."""
    timeout_s, connections = settings.gateway_upstream_timeout_s, settings.gateway_max_concurrency
    if settings.gateway_torchserve_url is None:
        key_file = model_server.ts_home / KEY_FILE if model_server.ts_token_auth else None
        return TorchServeClient(model_server.inference_url, model_server.management_url, key_file, timeout_s,
                                connections)
    return TorchServeClient(settings.gateway_torchserve_url, settings.gateway_torchserve_management_url,
                            settings.gateway_torchserve_key_file, timeout_s, connections,
                            settings.gateway_torchserve_version_urls)


def create_app(settings: GatewaySettings | None = None, model_server: ModelServerSettings | None = None, *,
               serve_grpc: bool = False, tracing: Tracing | None = None) -> FastAPI:
    """Build the app for the models in the store; TorchServe is reached through `model_server`'s addresses.
    `serve_grpc`: the lifespan also starts the gRPC front-end on GATEWAY_GRPC_PORT over the same data plane (the
    process entry points' choice; in-process test clients leave it off, so they bind no port). `tracing`: the
    spans' tracer (tests give one over an in-memory exporter); by default, the one the OTEL_* settings ask for."""
    settings = settings or get_settings()
    model_server = model_server or get_model_server_settings()
    tracing = tracing or Tracing.of(settings.trace_exporters())
    # The archives TorchServe loads at start (TS_MODELS, "all" by default; with a model server in another container
    # the gateway's TS_MODELS says what that one loads, so the store's other archives can be registered later).
    catalog = Catalog.from_store(settings.gateway_model_store, model_server.ts_models)
    missing = missing_versions(settings.gateway_torchserve_version_urls,
                               ((entry.name, entry.version) for entry in catalog.entries()))
    if missing:  # a typo would otherwise send that version's share to the main model server, silently
        raise FileNotFoundError(f"GATEWAY_TORCHSERVE_VERSION_URLS names {', '.join(missing)}, which the model store "
                                f"{settings.gateway_model_store} holds no archive of")
    metrics = GatewayMetrics(known_models=set(catalog.names()))
    stream_metrics = StreamMetrics(metrics.registry, metrics.model_label)  # one per registry, as `metrics`
    by_version = VersionMetrics(metrics.registry)  # once per app: a lifespan may run more than once in tests

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        plane = build_plane(settings, model_server, catalog, metrics, stream_metrics, by_version, tracing)
        app.state.plane = plane
        app.state.lifecycle = plane.lifecycle.control  # the admin API's
        watcher = plane.lifecycle.watcher
        watching = asyncio.create_task(watcher.watch(settings.gateway_policy_poll_s)) if watcher else None
        grpc_server = await grpc_v2.start(plane) if serve_grpc else None
        if not plane.keys.enabled:
            log.warning("profile %s: API keys are OFF; every request is let in (local use only)",
                        settings.gateway_profile)
        log.info("gateway serving %d models: %s", len(catalog.names()), ", ".join(catalog.names()))
        try:
            yield
        finally:
            await grpc_v2.stop(grpc_server)
            if watching is not None:
                watching.cancel()
            await plane.lifecycle.aclose()
            await plane.upstream.aclose()
            if tracing is not None:
                tracing.flush()

    app = GatewayApp(title="torchserve-stack gateway", version="0.1.0", lifespan=lifespan,
                     description="REST v1 and the Open Inference Protocol v2 in front of TorchServe.",
                     docs_url=None, redoc_url=None)  # FastAPI's docs load from a CDN; playground serves /docs
    rest_errors.install(app)
    app.include_router(health.router())
    v1, v2 = rest_v1.router(catalog), rest_v2.router(catalog)
    app.include_router(v1)
    app.include_router(v2)
    app.include_router(generate.router())
    admin_keys = settings.admin_keys()
    if admin_keys:  # off unless configured: without admin keys the routes do not exist (404)
        app.state.admin_keys = ApiKeys(admin_keys)
        app.include_router(admin.router())
    playground.install(app)
    app.lean = LeanInference.of(v1.routes + v2.routes, {
        rest_v1.PREDICT_PATH: rest_v1.answer_predict,
        rest_v2.INFER_PATH: rest_v2.answer_infer,
        rest_v2.INFER_VERSIONED_PATH: rest_v2.answer_infer,
    })
    measured: ASGIApp = MetricsMiddleware(app.route, metrics=metrics)
    traced = measured if tracing is None else TracingMiddleware(measured, tracing)  # off: not in the path at all
    app.edge = RequestIdMiddleware(rest_errors.ErrorGuard(traced))
    return app
