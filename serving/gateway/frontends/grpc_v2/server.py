"""The gRPC server (grpc.aio) of the gateway process, on its own port, beside uvicorn on the same event loop:

    server = await start(plane)     # in the app's lifespan, after the data plane is built; None when the port is 0
    ...
    await stop(server)
"""

from __future__ import annotations

import logging

import grpc

from serving.gateway.core.dataplane import DataPlane
from serving.gateway.frontends.grpc_v2.service import handlers

log = logging.getLogger("serving.gateway.grpc")
GRACE_S = 5.0


async def start(plane: DataPlane) -> grpc.aio.Server | None:
    """Listen on GATEWAY_HOST:GATEWAY_GRPC_PORT (None when the port is 0: gRPC off)."""
    settings = plane.settings
    if settings.gateway_grpc_port == 0:
        return None
    limit = settings.gateway_max_body_bytes
    server = grpc.aio.server(options=[
        # The same limit as a REST body; a larger message is refused by grpcio with RESOURCE_EXHAUSTED.
        ("grpc.max_receive_message_length", limit),
        ("grpc.max_send_message_length", -1),
        ("grpc.so_reuseport", 0),  # a second gateway on the same port must fail, not share it
    ], handlers=handlers(plane))
    address = f"{settings.gateway_host}:{settings.gateway_grpc_port}"
    server.add_insecure_port(address)  # raises RuntimeError when the port is taken
    await server.start()
    log.info("gRPC (OIP v2 and grpc.health.v1) on %s", address)
    return server


async def stop(server: grpc.aio.Server | None) -> None:
    """Stop taking calls and let those in flight finish for a few seconds."""
    if server is not None:
        await server.stop(GRACE_S)
