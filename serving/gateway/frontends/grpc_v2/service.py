"""`inference.GRPCInferenceService` (the Open Inference Protocol v2 over gRPC) and `grpc.health.v1.Health`,
over the core's data plane, as the REST front-ends: wire format in, the plane's calls, wire format out."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
from grpc_health.v1 import health_pb2

from serving.gateway.core.dataplane import DataPlane
from serving.gateway.core.errors import ModelNotFound, UpstreamTimeout
from serving.gateway.frontends.grpc_v2 import convert
from serving.gateway.frontends.grpc_v2 import inference_pb2 as pb
from serving.gateway.frontends.grpc_v2.calls import TRAFFIC_KEY, Call, Context, Guard, metadata_value
from serving.gateway.frontends.grpc_v2.stream import StreamCall
from serving.gateway.observability.request_ids import current_request_id

SERVICE = "inference.GRPCInferenceService"
HEALTH_SERVICE = "grpc.health.v1.Health"
SERVER_NAME, SERVER_VERSION = "torchserve-stack", "0.1.0"
WATCH_INTERVAL_S = 1.0
_SERVING, _NOT_SERVING = health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING


class InferenceService:
    """The seven calls of the v2 service; each returns its response message or raises a GatewayError (the
    stream's, ModelStreamInfer, writes its responses: stream.py)."""

    def __init__(self, plane: DataPlane) -> None:
        self.plane = plane

    async def server_live(self, _: pb.ServerLiveRequest, __: Context) -> pb.ServerLiveResponse:
        return pb.ServerLiveResponse(live=True)

    async def server_ready(self, _: pb.ServerReadyRequest, __: Context) -> pb.ServerReadyResponse:
        return pb.ServerReadyResponse(ready=await self.all_ready())

    async def model_ready(self, request: pb.ModelReadyRequest, __: Context) -> pb.ModelReadyResponse:
        _, ready = await self.plane.ready(request.name, request.version or None)
        return pb.ModelReadyResponse(ready=ready)

    async def server_metadata(self, _: pb.ServerMetadataRequest, __: Context) -> pb.ServerMetadataResponse:
        return pb.ServerMetadataResponse(name=SERVER_NAME, version=SERVER_VERSION)

    async def model_metadata(self, request: pb.ModelMetadataRequest, _: Context) -> pb.ModelMetadataResponse:
        entry = self.plane.catalog.get(request.name, request.version or None)
        inputs, outputs = entry.contract
        return pb.ModelMetadataResponse(
            name=entry.name, versions=self.plane.catalog.versions(entry.name),
            platform=entry.signature.get("platform", "pytorch_torchscript"),  # the served runtime (the archive)
            inputs=[pb.ModelMetadataResponse.TensorMetadata(name=t.name, datatype=t.datatype, shape=t.shape)
                    for t in inputs],
            outputs=[pb.ModelMetadataResponse.TensorMetadata(name=t.name, datatype=t.datatype, shape=t.shape)
                     for t in outputs],
            parameters={"streams": pb.InferParameter(bool_param=entry.model_kind.streams)})

    async def model_infer(self, message: pb.ModelInferRequest, context: Context) -> pb.ModelInferResponse:
        # REST's admission, before the inputs are converted (a wrong name is NOT_FOUND): the version asked for, or
        # the traffic policy's, sticky by the `x-traffic-key` metadata as REST by its X-Traffic-Key header. The Guard
        # checked the key before parsing the message; admit's check of the same value costs one comparison.
        entry = self.plane.admit(metadata_value(context, "authorization"), message.model_name,
                                 message.model_version or None, traffic_key=metadata_value(context, TRAFFIC_KEY))
        request = convert.infer_request(message)
        remaining = context.time_remaining()
        deadline = None if remaining is None else asyncio.get_running_loop().time() + remaining
        try:
            # The client's deadline bounds the wait for TorchServe too (and an outage's: core/lifecycle/outage.py).
            async with asyncio.timeout(remaining):
                outputs = await self.plane.infer(entry, request, current_request_id(), deadline)
        except TimeoutError:
            raise UpstreamTimeout(f"model {entry.name!r} did not answer within the call's deadline") from None
        return convert.infer_response(entry.name, entry.version, request, outputs)

    async def model_stream_infer(self, requests: AsyncIterator[bytes], context: Context) -> None:
        await StreamCall(self.plane, context).run(requests)

    async def all_ready(self) -> bool:
        """Whether TorchServe answers and every served model is ready (REST's /readyz)."""
        return all((await self.plane.readiness()).values())


class HealthService:
    """grpc.health.v1: the server ("") and the v2 service are SERVING when every model is ready, as /readyz is
    200; any other service name is unknown (NOT_FOUND on Check, SERVICE_UNKNOWN on Watch)."""

    def __init__(self, inference: InferenceService) -> None:
        self.inference = inference

    async def check(self, request: health_pb2.HealthCheckRequest, _: Context) -> health_pb2.HealthCheckResponse:
        status = await self._status(request.service)
        if status is None:  # the health protocol's answer for a name it does not know: NOT_FOUND
            raise ModelNotFound(f"unknown service {request.service[:100]!r}")
        return health_pb2.HealthCheckResponse(status=status)

    async def watch(self, request: health_pb2.HealthCheckRequest,
                    context: Context) -> AsyncIterator[health_pb2.HealthCheckResponse]:
        last = None
        while not context.done():
            status = await self._status(request.service)
            current = health_pb2.HealthCheckResponse.SERVICE_UNKNOWN if status is None else status
            if current != last:
                yield health_pb2.HealthCheckResponse(status=current)
                last = current
            await asyncio.sleep(WATCH_INTERVAL_S)

    async def _status(self, service: str) -> health_pb2.HealthCheckResponse.ServingStatus | None:
        if service not in ("", SERVICE):
            return None
        return _SERVING if await self.inference.all_ready() else _NOT_SERVING


def handlers(plane: DataPlane) -> list[grpc.GenericRpcHandler]:
    """The generic handlers of both services, every method wrapped by one Guard."""
    guard, inference = Guard(plane), InferenceService(plane)
    health, open_health = HealthService(inference), plane.settings.gateway_open_health
    v2 = {
        "ServerLive": guard.unary(Call(f"/{SERVICE}/ServerLive", pb.ServerLiveRequest, open_health),
                                  inference.server_live),
        "ServerReady": guard.unary(Call(f"/{SERVICE}/ServerReady", pb.ServerReadyRequest, open_health),
                                   inference.server_ready),
        "ModelReady": guard.unary(Call(f"/{SERVICE}/ModelReady", pb.ModelReadyRequest), inference.model_ready),
        "ServerMetadata": guard.unary(Call(f"/{SERVICE}/ServerMetadata", pb.ServerMetadataRequest),
                                      inference.server_metadata),
        "ModelMetadata": guard.unary(Call(f"/{SERVICE}/ModelMetadata", pb.ModelMetadataRequest),
                                     inference.model_metadata),
        "ModelInfer": guard.unary(Call(f"/{SERVICE}/ModelInfer", pb.ModelInferRequest), inference.model_infer),
        "ModelStreamInfer": guard.bidirectional(Call(f"/{SERVICE}/ModelStreamInfer", pb.ModelInferRequest),
                                                inference.model_stream_infer),
    }
    checks = {
        "Check": guard.unary(Call(f"/{HEALTH_SERVICE}/Check", health_pb2.HealthCheckRequest, open_health),
                             health.check),
        "Watch": guard.streaming(Call(f"/{HEALTH_SERVICE}/Watch", health_pb2.HealthCheckRequest, open_health),
                                 health.watch),
    }
    return [grpc.method_handlers_generic_handler(SERVICE, v2),
            grpc.method_handlers_generic_handler(HEALTH_SERVICE, checks)]
