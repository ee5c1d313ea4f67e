"""Small asyncio HTTP servers that answer as scripted, for the gateway's client tests."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field

from serving.gateway.core.http1 import Origin

OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
Reply = Callable[[bytes, int], Awaitable[bytes | None]]  # (request head, connection number) -> bytes or None: hang up


@dataclass
class Server:
    origin: Origin
    requests: list[bytes] = field(default_factory=list)  # each request: head and body as received
    connections: int = 0
    busy: int = 0
    most_busy: int = 0
    hangups: int = 0  # connections the client closed between requests
    ended: int = 0  # connections over for any reason (reset or closed mid-answer too)


@asynccontextmanager
async def serve(reply: Reply, tls: ssl.SSLContext | None = None) -> AsyncIterator[Server]:
    """A server on 127.0.0.1 that reads each request (Content-Length bodies) and writes what `reply` says."""
    server = Server(Origin("127.0.0.1", 0, tls is not None, ""))

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        server.connections += 1
        number = server.connections
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:"))
                server.requests.append(head + await reader.readexactly(length))
                server.busy += 1
                server.most_busy = max(server.most_busy, server.busy)
                answer = await reply(head, number)
                server.busy -= 1
                if answer is None:
                    break
                writer.write(answer)
                await writer.drain()
        except asyncio.IncompleteReadError:
            server.hangups += 1
        except ConnectionError:
            pass
        finally:
            server.ended += 1
            writer.close()

    listener = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=tls)
    server.origin = Origin("127.0.0.1", listener.sockets[0].getsockname()[1], tls is not None, "")
    async with listener:
        yield server


def always(answer: bytes) -> Reply:
    async def reply(head: bytes, number: int) -> bytes:
        return answer
    return reply


@contextmanager
def never_accepting() -> Iterator[int]:
    """A port on 127.0.0.1 whose accept queue is full: the kernel drops further SYNs, so connecting hangs."""
    with socket.create_server(("127.0.0.1", 0), backlog=0) as listener:
        port = listener.getsockname()[1]
        fillers = []
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        try:
            yield port
        finally:
            for filler in fillers:
                filler.close()
