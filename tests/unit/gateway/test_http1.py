"""The gateway's HTTP/1.1 client against small asyncio servers that answer as scripted: keep-alive reuse, chunked
bodies, servers that close, refuse, stall or talk nonsense, the connection bound and https."""

from __future__ import annotations

import asyncio
import ssl

import pytest
import trustme

from serving.gateway.core.http1 import (
    Answer,
    ConnectTimeout,
    Http1Pool,
    Origin,
    PoolClosed,
    ProtocolError,
    ResponseTooLarge,
)
from tests.unit.gateway.scripted_servers import OK, always, never_accepting, serve


@pytest.fixture
def pool() -> Http1Pool:
    return Http1Pool(max_connections=8, connect_timeout_s=1.0)


@pytest.mark.anyio
async def test_requests_are_well_formed_and_share_one_keep_alive_connection(pool: Http1Pool) -> None:
    async with serve(always(OK)) as server:
        first = await pool.request(server.origin, "POST", "/predictions/m", {"Content-Type": "text/plain"}, b"hi")
        second = await pool.request(server.origin, "GET", "/ping", {})
    assert first == second == Answer(200, {"content-type": "application/json", "content-length": "2"}, b"{}")
    assert server.connections == 1
    port = server.origin.port
    assert server.requests == [
        f"POST /predictions/m HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 2\r\n"
        "Content-Type: text/plain\r\n\r\nhi".encode(),
        f"GET /ping HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\n\r\n".encode()]


@pytest.mark.anyio
async def test_a_chunked_answer_is_joined_and_a_base_path_is_kept(pool: Http1Pool) -> None:
    chunked = b"HTTP/1.1 503 Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    async with serve(always(chunked)) as server:
        origin = Origin.parse(f"http://127.0.0.1:{server.origin.port}/ts/")
        answer = await pool.request(origin, "GET", "/ping", {})
    assert (answer.status, answer.body) == (503, b"abcde")
    assert server.requests[0].startswith(b"GET /ts/ping HTTP/1.1\r\n")


@pytest.mark.anyio
async def test_connection_close_is_honoured(pool: Http1Pool) -> None:
    closing = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    async with serve(always(closing)) as server:
        for _ in range(2):
            assert (await pool.request(server.origin, "GET", "/", {})).status == 200
    assert server.connections == 2


@pytest.mark.anyio
async def test_an_idle_connection_the_server_closed_is_retried_on_a_fresh_one(pool: Http1Pool) -> None:
    async def first_connection_dies_after_one_answer(head: bytes, number: int) -> bytes | None:
        return OK if number > 1 or len(server.requests) == 1 else None

    async with serve(first_connection_dies_after_one_answer) as server:
        assert (await pool.request(server.origin, "GET", "/", {})).body == b"{}"
        assert (await pool.request(server.origin, "GET", "/", {})).body == b"{}"  # sent twice, answered once
    assert (server.connections, len(server.requests)) == (2, 3)


@pytest.mark.anyio
async def test_a_fresh_connection_that_drops_the_request_is_an_error_not_a_retry(pool: Http1Pool) -> None:
    async def hang_up(head: bytes, number: int) -> None:
        return None

    async with serve(hang_up) as server:
        with pytest.raises(ConnectionResetError):
            await pool.request(server.origin, "POST", "/", {}, b"x")
    assert len(server.requests) == 1


@pytest.mark.anyio
async def test_a_closed_port_is_an_os_error(pool: Http1Pool) -> None:
    async with serve(always(OK)) as server:
        origin = server.origin
    with pytest.raises(OSError):  # noqa: PT011 - ConnectionRefusedError here; the caller maps any OSError
        await pool.request(origin, "GET", "/", {})


@pytest.mark.anyio
async def test_a_server_that_never_accepts_is_a_connect_timeout() -> None:
    with never_accepting() as port, pytest.raises(ConnectTimeout, match="no connection to 127.0.0.1"):
        await Http1Pool(4, connect_timeout_s=0.2).request(Origin("127.0.0.1", port, False, ""), "GET", "/", {})


@pytest.mark.anyio
async def test_a_malformed_answer_is_a_protocol_error_and_the_connection_is_dropped(pool: Http1Pool) -> None:
    async def nonsense_then_ok(head: bytes, number: int) -> bytes:
        return b"SMTP ready\r\n\r\n" if number == 1 else OK

    async with serve(nonsense_then_ok) as server:
        with pytest.raises(ProtocolError, match="malformed HTTP response"):
            await pool.request(server.origin, "GET", "/", {})
        assert (await pool.request(server.origin, "GET", "/", {})).status == 200
    assert server.connections == 2


@pytest.mark.anyio
async def test_a_request_timed_out_never_lends_its_connection_to_the_next(pool: Http1Pool) -> None:
    async def slow_first(head: bytes, number: int) -> bytes:
        if number == 1:
            await asyncio.sleep(0.3)
            return b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nlate"
        return OK

    async with serve(slow_first) as server:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                await pool.request(server.origin, "GET", "/", {})
        assert (await pool.request(server.origin, "GET", "/", {})).body == b"{}"
        await asyncio.sleep(0.4)  # the late answer arrives on the closed connection, read by no one
        assert (await pool.request(server.origin, "GET", "/", {})).body == b"{}"
        assert server.hangups == 1  # closed, not left open
    assert server.connections == 2


@pytest.mark.anyio
async def test_unasked_bytes_on_an_idle_connection_retire_it(pool: Http1Pool) -> None:
    async def two_answers_on_the_first(head: bytes, number: int) -> bytes:
        return OK + OK if number == 1 else OK

    async with serve(two_answers_on_the_first) as server:
        await pool.request(server.origin, "GET", "/", {})
        await asyncio.sleep(0.05)
        assert (await pool.request(server.origin, "GET", "/", {})).body == b"{}"
    assert server.connections == 2


@pytest.mark.anyio
async def test_at_most_max_connections_requests_are_out_at_once() -> None:
    async def slow(head: bytes, number: int) -> bytes:
        await asyncio.sleep(0.02)
        return OK

    pool = Http1Pool(max_connections=2, connect_timeout_s=1.0)
    async with serve(slow) as server:
        answers = await asyncio.gather(*(pool.request(server.origin, "GET", "/", {}) for _ in range(6)))
    assert [a.status for a in answers] == [200] * 6
    assert (server.most_busy, server.connections) == (2, 2)


@pytest.mark.anyio
async def test_https_is_verified_against_the_trusted_authorities() -> None:
    authority = trustme.CA()
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(server_tls)
    trusting = ssl.create_default_context()
    authority.configure_trust(trusting)
    async with serve(always(OK), tls=server_tls) as server:
        answer = await Http1Pool(4, 1.0, tls=trusting).request(server.origin, "GET", "/", {})
        assert answer.body == b"{}"
        with pytest.raises(ssl.SSLCertVerificationError):
            await Http1Pool(4, 1.0).request(server.origin, "GET", "/", {})  # the system does not know this CA


@pytest.mark.anyio
async def test_a_header_value_cannot_inject_lines(pool: Http1Pool) -> None:
    with pytest.raises(ValueError, match="line break"):
        await pool.request(Origin("127.0.0.1", 9, False, ""), "GET", "/", {"Accept": "a\r\nX-Evil: 1"})


def test_origins_parse_ports_schemes_and_base_paths() -> None:
    assert Origin.parse("http://ts:8080") == Origin("ts", 8080, False, "")
    assert Origin.parse("https://ts/base/") == Origin("ts", 443, True, "/base")
    assert Origin.parse("http://ts") == Origin("ts", 80, False, "")
    for bad in ("ftp://ts", "ts:8080", "http://"):
        with pytest.raises(ValueError, match="not an http"):
            Origin.parse(bad)


@pytest.mark.anyio
async def test_a_connection_idle_past_the_idle_timeout_is_closed_not_reused() -> None:
    async with serve(always(OK)) as server:
        expiring = Http1Pool(max_connections=8, connect_timeout_s=1.0, idle_timeout_s=0.05)
        assert (await expiring.request(server.origin, "GET", "/", {})).body == b"{}"
        await asyncio.sleep(0.3)  # well past 0.05 s
        assert (await expiring.request(server.origin, "GET", "/", {})).body == b"{}"
        await asyncio.sleep(0.05)  # the server sees the expired one's end
        assert (server.connections, server.hangups) == (2, 1)
        keeping = Http1Pool(max_connections=8, connect_timeout_s=1.0, idle_timeout_s=60)
        await keeping.request(server.origin, "GET", "/", {})
        await asyncio.sleep(0.3)
        await keeping.request(server.origin, "GET", "/", {})
        assert server.connections == 3  # within its idle time, the connection is reused


LIMITED_TO_OK = 45  # OK's header names and values (content-type application/json, content-length 2) and its body


@pytest.mark.anyio
async def test_a_response_at_the_size_limit_is_taken_and_one_byte_more_refused() -> None:
    async with serve(always(OK)) as server:
        at_limit = Http1Pool(4, 1.0, max_response_bytes=LIMITED_TO_OK)
        assert (await at_limit.request(server.origin, "GET", "/", {})).body == b"{}"
        under = Http1Pool(4, 1.0, max_response_bytes=LIMITED_TO_OK - 1)
        with pytest.raises(ResponseTooLarge, match="^the response is over the client's limit of 44 bytes$"):
            await under.request(server.origin, "GET", "/", {})


@pytest.mark.anyio
async def test_an_oversize_body_is_refused_before_it_is_all_sent() -> None:
    announced = b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n" + b"x" * 100  # the rest never comes
    endless = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"400\r\n" + b"x" * 1024 + b"\r\n"  # nor here
    for start in (announced, endless * 4):
        async with serve(always(start)) as server:
            pool = Http1Pool(4, 1.0, max_response_bytes=1000)
            with pytest.raises(ResponseTooLarge, match="over the client's limit of 1000 bytes"):
                async with asyncio.timeout(5):  # refused from what came, not after waiting for the rest
                    await pool.request(server.origin, "GET", "/", {})
            await asyncio.sleep(0.05)
            assert server.hangups == 1  # the connection is closed, not kept for the next request


@pytest.mark.anyio
async def test_a_header_sent_twice_keeps_both_values(pool: Http1Pool) -> None:
    twice = (b"HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nVary: Accept\r\nSet-Cookie: b=2\r\nVary: Origin\r\n"
             b"Content-Length: 0\r\n\r\n")
    async with serve(always(twice)) as server:
        answer = await pool.request(server.origin, "GET", "/", {})
    assert answer.headers == {"set-cookie": "a=1, b=2", "vary": "Accept, Origin", "content-length": "0"}
    assert answer.get_all("set-cookie") == ["a=1", "b=2"]
    assert list(answer.fields) == [("set-cookie", "a=1"), ("vary", "Accept"), ("set-cookie", "b=2"),
                                   ("vary", "Origin"), ("content-length", "0")]


@pytest.mark.anyio
async def test_close_closes_idle_and_in_flight_connections_and_later_requests_fail() -> None:
    release = asyncio.Event()

    async def hold(head: bytes, number: int) -> bytes:
        if head.startswith(b"GET /hold "):
            await release.wait()
        return OK

    pool = Http1Pool(max_connections=2, connect_timeout_s=1.0)
    async with serve(hold) as server:
        await asyncio.gather(*(pool.request(server.origin, "GET", "/", {}) for _ in range(2)))  # two idle
        in_flight = asyncio.ensure_future(pool.request(server.origin, "GET", "/hold", {}))  # takes one of them
        await asyncio.sleep(0.05)
        assert (server.connections, server.busy) == (2, 1)
        pool.close()
        with pytest.raises(PoolClosed, match="^the HTTP client was closed while the request was in flight$"):
            await in_flight
        await asyncio.sleep(0.05)
        assert server.hangups == 1  # the idle one
        release.set()  # the server answers the held request on a connection the client has closed
        await asyncio.sleep(0.1)
        assert server.ended == 2  # both: the idle one and the one in flight
        with pytest.raises(PoolClosed, match="^the HTTP client is closed$"):
            await pool.request(server.origin, "GET", "/", {})
        assert server.connections == 2  # no new connection for a closed pool
        pool.close()  # twice is fine


@pytest.mark.anyio
async def test_close_fails_the_requests_waiting_for_a_connection() -> None:
    release = asyncio.Event()

    async def hold(head: bytes, number: int) -> bytes:
        await release.wait()
        return OK

    pool = Http1Pool(max_connections=1, connect_timeout_s=1.0)
    async with serve(hold) as server:
        requests = [asyncio.ensure_future(pool.request(server.origin, "GET", "/", {})) for _ in range(2)]
        await asyncio.sleep(0.05)  # the first in flight, the second waiting for the only slot
        pool.close()
        results = await asyncio.gather(*requests, return_exceptions=True)
        release.set()
    assert [str(r) for r in results] == ["the HTTP client was closed while the request was in flight",
                                         "the HTTP client is closed"]
    assert all(isinstance(r, PoolClosed) for r in results)
    assert server.connections == 1
