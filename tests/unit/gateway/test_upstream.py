"""The gateway's TorchServe client turns what happens on the wire into the gateway's domain errors: unreachable
is 503 (refused or never accepted, and quickly), a hung model 504, nonsense 502, a handler's 4xx passed on."""

from __future__ import annotations

import asyncio

import pytest

from serving.gateway.core.errors import InvalidInput, UpstreamError, UpstreamTimeout, UpstreamUnavailable
from serving.gateway.core.upstream import TorchServeClient
from tests.unit.gateway.scripted_servers import always, never_accepting, serve

pytestmark = pytest.mark.anyio


async def predict(port: int, timeout_s: float = 5.0) -> bytes:
    client = TorchServeClient(f"http://127.0.0.1:{port}", None, None, timeout_s)
    try:
        return (await client.predict("m", b"{}", "application/json", None, "id-1")).body
    finally:
        await client.aclose()


async def test_an_answer_is_passed_on_with_the_request_id() -> None:
    async def reply(head: bytes, number: int) -> bytes:
        return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 9\r\n\r\n{\"y\": 1}\n"

    async with serve(reply) as server:
        assert await predict(server.origin.port) == b'{"y": 1}\n'
    assert server.requests[0].startswith(b"POST /predictions/m HTTP/1.1\r\n")
    assert b"\r\nX-Request-ID: id-1\r\n" in server.requests[0]


async def test_unreachable_is_unavailable_and_quick() -> None:
    async with serve(lambda head, number: asyncio.sleep(0, b"")) as server:
        closed = server.origin.port
    with pytest.raises(UpstreamUnavailable):
        await predict(closed)
    loop = asyncio.get_running_loop()
    with never_accepting() as port:
        started = loop.time()
        with pytest.raises(UpstreamUnavailable):
            await predict(port)
    assert loop.time() - started < 2  # the connect timeout (0.5 s), not the request timeout (5 s)


async def test_a_hung_model_is_a_timeout_and_nonsense_is_an_upstream_error() -> None:
    async def hang(head: bytes, number: int) -> bytes:
        await asyncio.sleep(5)
        return b""

    async with serve(hang) as server:
        with pytest.raises(UpstreamTimeout):
            await predict(server.origin.port, timeout_s=0.1)

    async def nonsense(head: bytes, number: int) -> bytes:
        return b"SMTP ready\r\n\r\n"

    async with serve(nonsense) as server:
        with pytest.raises(UpstreamError, match="malformed HTTP response"):
            await predict(server.origin.port)


async def test_a_handlers_4xx_is_passed_on() -> None:
    async def reject(head: bytes, number: int) -> bytes:
        body = b'{"code": 400, "type": "BadRequest", "message": "features: expected 4 numbers"}'
        return b"HTTP/1.1 400 Bad Request\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)

    async with serve(reject) as server:
        with pytest.raises(InvalidInput) as error:
            await predict(server.origin.port)
    assert (error.value.status, error.value.message) == (400, "features: expected 4 numbers")


async def test_an_answer_over_the_size_cap_is_an_upstream_error_and_a_closed_client_is_unavailable() -> None:
    oversize = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % ((64 << 20) + 1)  # refused on its head alone
    async with serve(always(oversize)) as server:
        with pytest.raises(UpstreamError) as error:
            await predict(server.origin.port)
    assert (error.value.status, error.value.message) == (
        502, "model 'm': the response is over the client's limit of 67108864 bytes")
    client = TorchServeClient("http://127.0.0.1:9", None, None, 5.0)
    await client.aclose()
    with pytest.raises(UpstreamUnavailable, match="^the model server is unavailable$"):
        await client.predict("m", b"{}", "application/json", None, None)
