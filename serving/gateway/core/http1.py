"""A lean HTTP/1.1 client for the gateway's one peer, TorchServe: keep-alive connections pooled per address, each
an asyncio protocol whose responses httptools parses (the C parser uvicorn already brings).

Why not aiohttp: measured against TorchServe, aiohttp's own per-request work was about half of what the gateway
added to a lone client's latency (the figures are in docs/benchmarks.md). The gateway needs little of it: requests
it builds itself, a body known up front, responses framed by Content-Length or chunks. What it does need of a
library's client it has: idle connections expire (`idle_timeout_s`), a response over `max_response_bytes` is
refused without being buffered whole, a header sent twice keeps both values, and `close()` closes every
connection, idle or in flight, for good."""

import asyncio
import ssl
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
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
    """A whole response: status, headers (names in lower case; a name sent more than once has its values joined
    with ", ", as RFC 9110 combines field lines), the body, de-chunked, and every field line as it came."""

    status: int
    headers: dict[str, str]
    body: bytes
    fields: Sequence[tuple[str, str]] = field(default=(), compare=False)

    def get_all(self, name: str) -> list[str]:
        """Every value of header `name` (lower case), in order: what Set-Cookie-like headers need."""
        return [value for field_name, value in self.fields if field_name == name]


class ProtocolError(Exception):
    """The peer sent something that is not an HTTP/1.1 response to the request."""


class ResponseTooLarge(ProtocolError):
    """The response is over the pool's `max_response_bytes` (head and body): refused as it arrives, never buffered
    whole, and its connection closed."""


class ConnectTimeout(ConnectionError):
    """The server did not accept a connection in time: unreachable, like a refused connection (not a slow answer)."""


class PoolClosed(ConnectionError):
    """The pool was closed: requests in flight are cut off and later ones refused (an OSError, so unavailable)."""


class _Connection(asyncio.Protocol):
    """One keep-alive connection carrying one request at a time."""

    def __init__(self, max_response_bytes: int) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[Answer] | None = None
        self._headers: dict[str, str] = {}
        self._fields: list[tuple[str, str]] = []
        self._body: list[bytes] = []
        self._max_bytes = max_response_bytes
        self._size = 0  # bytes of the current response so far (header names and values, body)
        self.closed = False
        self.received = False  # whether any byte of the current response has come
        self.keep_alive = False
        self.idle_since = 0.0  # loop time when it last went back to the pool

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
        if self._waiter is None:  # refused already (or unasked): the rest is dropped, not buffered
            return
        key, text = name.decode("latin-1").lower(), value.decode("latin-1")
        self._fields.append((key, text))
        headers = self._headers
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
        self._size += len(name) + len(value)
        if self._size > self._max_bytes:
            self._refuse()

    def on_headers_complete(self) -> None:
        declared = self._headers.get("content-length", "")
        if declared.isdigit() and self._size + int(declared) > self._max_bytes:
            self._refuse()  # before the first byte of a body announced too large

    def on_body(self, body: bytes) -> None:
        if self._waiter is None:
            return
        self._size += len(body)
        if self._size > self._max_bytes:
            self._refuse()
        else:
            self._body.append(body)

    def on_message_complete(self) -> None:
        waiter = self._waiter
        answer = Answer(self._parser.get_status_code(), self._headers, b"".join(self._body), self._fields)
        self.keep_alive = self._parser.should_keep_alive()
        self._waiter, self._headers, self._fields, self._body = None, {}, [], []
        if waiter is None:  # a second answer to one request, or the rest of one refused as too large
            self.close()
        elif not waiter.done():
            waiter.set_result(answer)

    def _refuse(self) -> None:
        self._headers, self._fields, self._body = {}, [], []
        self.close(ResponseTooLarge(f"the response is over the client's limit of {self._max_bytes} bytes"))

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
        self._size = 0
        self._transport.write(request)
        return await self._waiter

    def close(self, error: Exception | None = None) -> None:
        """Close the connection; a request waiting on it fails with `error` (by default, as a reset)."""
        if error is not None:
            self._fail(error)
        self.closed = True
        if self._transport is not None:
            self._transport.close()


class Http1Pool:
    """Requests over pooled keep-alive connections, at most `max_connections` at once (later ones wait)."""

    def __init__(self, max_connections: int, connect_timeout_s: float, tls: ssl.SSLContext | None = None,
                 idle_timeout_s: float = 15.0, max_response_bytes: int = 64 << 20) -> None:
        """`tls`: how https origins are verified (by default, the system's trusted certificate authorities).
        `idle_timeout_s`: a connection idle in the pool longer is closed, not reused (servers and the NATs between
        drop idle connections on their own schedule). `max_response_bytes`: the largest response (head and body)
        taken; a larger one is ResponseTooLarge."""
        self._idle: dict[Origin, deque[_Connection]] = {}  # each oldest first: the most recent is reused
        self._busy: set[_Connection] = set()
        self._slots = asyncio.Semaphore(max_connections)
        self._connect_timeout_s = connect_timeout_s
        self._tls = tls
        self._idle_timeout_s = idle_timeout_s
        self._max_response_bytes = max_response_bytes
        self._closed = False

    async def request(self, origin: Origin, method: str, path: str, headers: Mapping[str, str],
                      body: bytes = b"") -> Answer:
        """The response to one request. Raises OSError when the server cannot be reached (ConnectTimeout included)
        or drops the connection, or the pool is closed (PoolClosed); ProtocolError on a malformed response,
        ResponseTooLarge on one over the limit; on cancellation (a timeout) the connection is closed, never reused.
        A connection that was idle in the pool and closed before answering is retried once on a fresh one."""
        request = _encode(origin, method, path, headers, body)
        async with self._slots:
            for attempt in (0, 1):
                connection, reused = await self._take(origin)
                self._busy.add(connection)
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
                finally:
                    self._busy.discard(connection)
                if connection.keep_alive and not connection.closed and not self._closed:
                    connection.idle_since = asyncio.get_running_loop().time()
                    self._idle.setdefault(origin, deque()).append(connection)
                else:
                    connection.close()
                return answer
        raise AssertionError("unreachable")  # pragma: no cover

    async def _take(self, origin: Origin) -> tuple[_Connection, bool]:
        self._check_open()
        loop = asyncio.get_running_loop()
        idle = self._idle.get(origin)
        if idle:
            expired = loop.time() - self._idle_timeout_s
            while idle and idle[0].idle_since <= expired:  # oldest first: these are past their idle time
                idle.popleft().close()
        while idle:
            connection = idle.pop()  # the most recently used: the likeliest to be still open
            if not connection.closed:
                return connection, True
        tls = self._tls_context() if origin.tls else None
        try:
            _, connection = await asyncio.wait_for(
                loop.create_connection(lambda: _Connection(self._max_response_bytes), origin.host, origin.port,
                                       ssl=tls),
                self._connect_timeout_s)
        except TimeoutError:
            address = f"{origin.host}:{origin.port}"
            raise ConnectTimeout(f"no connection to {address} in {self._connect_timeout_s} s") from None
        if self._closed:  # closed while connecting
            connection.close()
            self._check_open()
        return connection, False

    def _check_open(self) -> None:
        if self._closed:
            raise PoolClosed("the HTTP client is closed")

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = ssl.create_default_context()
        return self._tls

    def close(self) -> None:
        """Close every connection, idle or in flight (those requests fail with PoolClosed); later requests fail
        with PoolClosed too. Safe to call twice."""
        self._closed = True
        for idle in self._idle.values():
            while idle:
                idle.pop().close()
        for connection in list(self._busy):
            connection.close(PoolClosed("the HTTP client was closed while the request was in flight"))
        self._busy.clear()


def _encode(origin: Origin, method: str, path: str, headers: Mapping[str, str], body: bytes) -> bytes:
    lines = [f"{method} {origin.base_path}{path} HTTP/1.1", f"Host: {origin.host}:{origin.port}",
             f"Content-Length: {len(body)}"]
    for name, value in headers.items():
        if "\r" in value or "\n" in value:  # values can come from a client's request: no header injection
            raise ValueError(f"header {name} has a line break")
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
