"""The data plane: the one inference step that every route of every protocol calls.

Front-ends (REST v1, REST v2 JSON and binary, gRPC, streaming) only turn their wire format into these calls
and the answers back; nothing here knows HTTP, ASGI or gRPC. The contract:

- `DataPlane.admit(authorization, name, version=None, media_type=None, traffic_key=None) -> ModelEntry`: the
  API-key check on the raw `authorization` value (`Bearer <key>`, from a header or gRPC metadata), the model
  version's choice (the one asked for, else the traffic policy's, sticky by `traffic_key`: core/lifecycle/) and,
  for a v1 body, the kind's media types: all that can be refused before a body is read.
- `DataPlane.predict(entry, body, content_type, accept=None, request_id=None, group=None) -> UpstreamResponse`:
  v1; the body goes to the model's handler untouched, after the kind's media-type check (`group`: the
  coalescer's, for requests that should go to the model together).
- `DataPlane.infer(entry, request, request_id=None) -> list[Tensor]`: v2; the codec's `InferRequest` is
  checked against the kind's tensor contract, sent to the handler (as one or several JSON calls), and its
  answers, checked against the contract too (core/answers.py: BadModelAnswer, 502, for a 200 of the wrong
  shape), come back as the output tensors (BYTES as raw bytes: base64 or binary is the front-end's choice).
- `DataPlane.infer_model(authorization, name, version, request, request_id)`: `admit` then `infer`, for a
  front-end that has the request decoded before it checks the key (gRPC).
- `TextStream(plane, entry, GenerationRequest, request_id)` (serving/gateway/streaming/engine.py): a
  continuation chunk by chunk, each chunk a `predict` of the handler's step protocol, under `plane.streams`.
- `DataPlane.explain(entry, body, request_id=None) -> UpstreamResponse`: Integrated Gradients for a model of an
  explainable kind (ModelNotFound, with the reason, for any other); the JSON body goes to the handler untouched
  through TorchServe's explanations API, never coalesced.
- `DataPlane.ready(name, version=None) -> (ModelEntry, bool)` and `readiness() -> {name: bool}`: model and
  server readiness from TorchServe; metadata is `plane.catalog.get(name, version)` (`entry.contract` holds the
  v2 inputs and outputs as `TensorSpec`s).

`predict` and `infer` take the request's `deadline` (the event loop's clock; REST's X-Request-Timeout-Ms, gRPC's
own deadline). Each call runs under the admission limit and the lifecycle (in flight per version, the outage
gate, metrics by version, the shadow copy), through the coalescer to TorchServe, with the upstream metrics.
Each call to TorchServe is noted into the request's trace (model, version, batch, upstream time:
serving/gateway/observability/tracing.py), whose span the front-end's edge opened.
Failures are raised as `serving.gateway.core.errors.GatewayError` subclasses (Unauthorized, ModelNotFound,
InvalidInput, UnsupportedMediaType, PayloadTooLarge, Overloaded, ModelNotReady, UpstreamUnavailable,
UpstreamError, BadModelAnswer, UpstreamTimeout), each of which a front-end maps once to its protocol's status.
"""

import asyncio
import functools
from dataclasses import dataclass

from serving.gateway.core.admission import Admission, ApiKeys
from serving.gateway.core.answers import checked_outputs
from serving.gateway.core.batching import Coalescer
from serving.gateway.core.catalog import Catalog, ModelEntry
from serving.gateway.core.errors import (
    InvalidInput,
    ModelNotFound,
    ModelNotReady,
    UnsupportedMediaType,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from serving.gateway.core.kinds import KINDS
from serving.gateway.core.kinds.base import encode_json
from serving.gateway.core.lifecycle.runtime import LifecycleRuntime
from serving.gateway.core.upstream import TorchServeClient, UpstreamResponse
from serving.gateway.observability import tracing
from serving.gateway.observability.metrics import GatewayMetrics, UpstreamErrorReason
from serving.gateway.observability.tracing import Tracing
from serving.gateway.settings import GatewaySettings
from serving.gateway.streaming.limits import StreamHub
from serving.gateway.v2codec import InferRequest, Tensor


@dataclass
class DataPlane:
    """The catalog, the key check, the admission limit, the coalescer before the TorchServe client, the metrics:
    built once per process (in the app's lifespan) and shared by every front-end."""

    settings: GatewaySettings
    catalog: Catalog
    upstream: TorchServeClient
    keys: ApiKeys
    admission: Admission
    metrics: GatewayMetrics
    batcher: Coalescer
    lifecycle: LifecycleRuntime
    streams: StreamHub  # what every stream shares (bound, limits, metrics): serving/gateway/streaming/
    tracing: Tracing | None = None  # the edges' spans (None: off); the plane only notes into the current one

    def admit(self, authorization: str | None, name: str, version: str | None = None,
              media_type: str | None = None, traffic_key: str | None = None) -> ModelEntry:
        """The model version a request is answered by: Unauthorized without a known key, ModelNotFound for a name
        or version the gateway does not serve, UnsupportedMediaType for a v1 `media_type` its kind does not take.
        `version` pins one; otherwise the traffic policy picks it (sticky by `traffic_key`)."""
        self.keys.check(authorization)
        entry = self.lifecycle.pick(name, version, traffic_key)
        tracing.note_model(entry.name, entry.version)
        if media_type is not None:
            _check_media_type(entry, media_type)
        return entry

    async def predict(self, entry: ModelEntry, body: bytes, content_type: str, accept: str | None = None,
                      request_id: str | None = None, deadline: float | None = None,
                      group: int | None = None) -> UpstreamResponse:
        """A v1 prediction: `body` (of media type `content_type`) to the model's handler as it is. `group`: the
        coalescer's group it goes to the model with (core/batching.py; the stream engine's steps)."""
        _check_media_type(entry, content_type)
        if not body:
            raise InvalidInput("empty request body")
        return await self._forward(entry, body, content_type, accept, request_id, deadline, group)

    async def infer(self, entry: ModelEntry, request: InferRequest, request_id: str | None = None,
                    deadline: float | None = None) -> list[Tensor]:
        """A v2 inference: the output tensors of every output of the model's contract, in its order."""
        _check_requested_outputs(entry, request)
        bodies = entry.model_kind.handler_requests(entry.signature, request)
        if len(bodies) == 1:  # the common case, without gather's task
            results = [await self._forward(entry, encode_json(bodies[0]), "application/json", None, request_id,
                                           deadline)]
        else:
            results = await asyncio.gather(*(self._forward(entry, encode_json(b), "application/json", None,
                                                           request_id, deadline) for b in bodies))
        return checked_outputs(entry, request.inputs[0].shape[0], [result.body for result in results])

    async def infer_model(self, authorization: str | None, name: str, version: str | None, request: InferRequest,
                          request_id: str | None = None) -> tuple[ModelEntry, list[Tensor]]:
        """`admit`, then `infer`: the model answered for and its outputs."""
        entry = self.admit(authorization, name, version)
        return entry, await self.infer(entry, request, request_id)

    async def explain(self, entry: ModelEntry, body: bytes, request_id: str | None = None) -> UpstreamResponse:
        """An explanation of `entry`'s prediction for the JSON `body` (handlers/explaining.py)."""
        tracing.note_model(entry.name, entry.version)
        if not entry.model_kind.explainable:
            kinds = ", ".join(sorted(k.name for k in KINDS.values() if k.explainable))
            raise ModelNotFound(f"model {entry.name!r} is a {entry.kind} model; explanations are served for "
                                f"{kinds} models")
        if not body:
            raise InvalidInput("empty request body")
        async with self.admission.slot():
            try:
                result = await self.upstream.explain(self.lifecycle.target(entry), body, request_id)
            except (ModelNotReady, UpstreamError, UpstreamTimeout) as error:
                self.metrics.upstream_error(entry.name, _failure(error))
                raise
        self.metrics.observe_upstream(entry.name, result.seconds)
        tracing.note_upstream(1, result.seconds)
        return result

    async def ready(self, name: str, version: str | None = None) -> tuple[ModelEntry, bool]:
        """The model (ModelNotFound if not served) and whether TorchServe has a ready worker for it."""
        entry = self.catalog.get(name, version)
        if version is None:
            return entry, await self.lifecycle.ready(name, self.upstream.ready)
        return entry, await self.upstream.ready(self.lifecycle.target(entry))

    async def readiness(self) -> dict[str, bool]:
        """Each served model's readiness, asked of TorchServe concurrently."""
        names = self.catalog.names()
        ready = await asyncio.gather(*(self.lifecycle.ready(n, self.upstream.ready) for n in names))
        return dict(zip(names, ready, strict=True))

    async def _forward(self, entry: ModelEntry, body: bytes, content_type: str, accept: str | None,
                       request_id: str | None, deadline: float | None = None,
                       group: int | None = None) -> UpstreamResponse:
        """One body to the picked version's handler under the admission limit, through the lifecycle (in flight,
        the outage gate, metrics by version, the shadow copy); latency and failures recorded, and noted into the
        request's trace."""
        tracing.note_model(entry.name, entry.version)  # gRPC picks its version without `admit`
        async with self.admission.slot():
            try:
                send = self.batcher.predict if group is None else functools.partial(self.batcher.predict,
                                                                                    group=group)
                result = await self.lifecycle.call(entry, send, body, content_type, accept, request_id, deadline)
            except UpstreamTimeout:
                self.metrics.upstream_error(entry.name, "timeout")
                raise
            except UpstreamUnavailable:
                self.metrics.upstream_error(entry.name, "unavailable")
                raise
            except (ModelNotReady, UpstreamError):
                self.metrics.upstream_error(entry.name, "bad_status")
                raise
        self.metrics.observe_upstream(entry.name, result.seconds)
        tracing.note_upstream(result.batch, result.seconds)
        return result


def _failure(error: Exception) -> UpstreamErrorReason:
    """The upstream-error metric's label for a failed call."""
    if isinstance(error, UpstreamTimeout):
        return "timeout"
    return "unavailable" if isinstance(error, UpstreamUnavailable) else "bad_status"


def _check_media_type(entry: ModelEntry, media_type: str) -> None:
    media_types = entry.model_kind.media_types
    if media_type not in media_types:
        raise UnsupportedMediaType(f"{entry.kind} models take {', '.join(media_types)}, not {media_type or 'nothing'}")


def _check_requested_outputs(entry: ModelEntry, request: InferRequest) -> None:
    names = {spec.name for spec in entry.contract[1]}
    unknown = [o.name for o in request.requested_outputs if o.name not in names]
    if unknown:
        raise InvalidInput(f"unknown output(s) {unknown}; this model has {sorted(names)}")

