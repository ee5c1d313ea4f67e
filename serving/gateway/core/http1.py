"""A lean HTTP/1.1 client for the gateway's one peer, TorchServe: keep-alive connections pooled per address, each
an asyncio protocol whose responses httptools parses (the C parser uvicorn already brings).

Why not aiohttp: at 1 connection against TorchServe, an aiohttp session answered in 2.61 ms p50, this protocol in
2.05 ms and a blocking socket in 2.04 — aiohttp's own per-request work was half of what the gateway added to a
prediction (docs/benchmarks.md). The gateway needs little of it: requests it builds itself, a body known up front,
responses framed by Content-Length or chunks."""

import asyncio
import ssl
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

import httptools


@dataclass(frozen=True)
class Origin:
    """Where requests go: scheme, host and port, and the path every request's path is appended to."""

    host: str
    port: int
    tls: bool
    base_path: str

    @classmethod
    def parse(cls, url: str) -> "Origin":
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL with a host: {url!r}")
        tls = parts.scheme == "https"
        return cls(parts.hostname, parts.port or (443 if tls else 80), tls, parts.path.rstrip("/"))


@dataclass(frozen=True)
class Answer:
    """A whole response: status, headers (names in lower case) and the body, de-chunked."""

    status: int
    headers: dict[str, str]
    body: bytes


class ProtocolError(Exception):
    """The peer sent something that is not an HTTP/1.1 response to the request."""


class ConnectTimeout(ConnectionError):
    """The server did not accept a connection in time: unreachable, like a refused connection (not a slow answer)."""


class _Connection(asyncio.Protocol):
    """One keep-alive connection carrying one request at a time."""

    def __init__(self) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[Answer] | None = None
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self.closed = False
        self.received = False  # whether any byte of the current response has come
        self.keep_alive = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(ConnectionResetError("the server closed the connection"))

    def data_received(self, data: bytes) -> None:
        if self._waiter is None:  # nothing was asked: the connection cannot be trusted any more
            self.close()
            return
        self.received = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as error:
            self._fail(ProtocolError(f"malformed HTTP response: {error}"))
            self.close()

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        waiter, answer = self._waiter, Answer(self._parser.get_status_code(), self._headers, b"".join(self._body))
        self.keep_alive = self._parser.should_keep_alive()
        self._waiter, self._headers, self._body = None, {}, []
        if waiter is None:  # a second answer to one request
            self.close()
        elif not waiter.done():
            waiter.set_result(answer)

    def _fail(self, error: Exception) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)

    async def exchange(self, request: bytes) -> Answer:
        """Send one request and wait for its whole response."""
        assert self._transport is not None
        assert self._waiter is None  # one request at a time: the pool hands a connection to one caller
        self._waiter = asyncio.get_running_loop().create_future()
        self.received = self.keep_alive = False
        self._transport.write(request)
        return await self._waiter

    def close(self) -> None:
        self.closed = True
        if self._transport is not None:
            self._transport.close()


class Http1Pool:
    """Requests over pooled keep-alive connections, at most `max_connections` at once (later ones wait)."""

    def __init__(self, max_connections: int, connect_timeout_s: float, tls: ssl.SSLContext | None = None) -> None:
        """`tls`: how https origins are verified (by default, the system's trusted certificate authorities)."""
        self._idle: dict[Origin, deque[_Connection]] = {}
        self._slots = asyncio.Semaphore(max_connections)
        self._connect_timeout_s = connect_timeout_s
        self._tls = tls

    async def request(self, origin: Origin, method: str, path: str, headers: Mapping[str, str],
                      body: bytes = b"") -> Answer:
        """The response to one request. Raises OSError when the server cannot be reached (ConnectTimeout included)
        or drops the connection, ProtocolError on a malformed response; on cancellation (a timeout) the connection
        is closed, never reused. A connection that was idle in the pool and closed before answering is retried
        once on a fresh one."""
        request = _encode(origin, method, path, headers, body)
        async with self._slots:
            for attempt in (0, 1):
                connection, reused = await self._take(origin)
                try:
                    answer = await connection.exchange(request)
                except ConnectionResetError:
                    connection.close()
                    if reused and not connection.received and attempt == 0:
                        continue  # the server had closed it while it sat idle
                    raise
                except BaseException:
                    connection.close()
                    raise
                if connection.keep_alive and not connection.closed:
                    self._idle.setdefault(origin, deque()).append(connection)
                else:
                    connection.close()
                return answer
        raise AssertionError("unreachable")  # pragma: no cover

    async def _take(self, origin: Origin) -> tuple[_Connection, bool]:
        idle = self._idle.get(origin)
        while idle:
            connection = idle.pop()  # the most recently used: the likeliest to be still open
            if not connection.closed:
                return connection, True
        loop = asyncio.get_running_loop()
        tls = self._tls_context() if origin.tls else None
        try:
            _, connection = await asyncio.wait_for(
                loop.create_connection(_Connection, origin.host, origin.port, ssl=tls), self._connect_timeout_s)
        except TimeoutError:
            address = f"{origin.host}:{origin.port}"
            raise ConnectTimeout(f"no connection to {address} in {self._connect_timeout_s} s") from None
        return connection, False

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = ssl.create_default_context()
        return self._tls

    def close(self) -> None:
        """Close every idle connection."""
        for idle in self._idle.values():
            while idle:
                idle.pop().close()


def _encode(origin: Origin, method: str, path: str, headers: Mapping[str, str], body: bytes) -> bytes:
    lines = [f"{method} {origin.base_path}{path} HTTP/1.1", f"Host: {origin.host}:{origin.port}",
             f"Content-Length: {len(body)}"]
    for name, value in headers.items():
        if "\r" in value or "\n" in value:  # values can come from a client's request: no header injection
            raise ValueError(f"header {name} has a line break")
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
