"""Run `h2load` (nghttp2's compiled HTTP/2 load generator, Debian's nghttp2-client) as a gRPC client: each request
is a POST of one framed message (the 1-byte compression flag, the 4-byte big-endian length, the serialized
protobuf) with gRPC's headers. h2load counts HTTP statuses only, and a gRPC error still has HTTP status 200, so
`run` also checks the answered bytes: every call must have brought back at least the expected message."""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from pathlib import Path

from loadtests import load_generator

GRPC_HEADERS = ("content-type: application/grpc", "te: trailers")


@dataclass(frozen=True)
class H2loadResult:
    """One h2load run: throughput, mean latency (ms), failed calls and the client's own CPU share."""

    requests_per_s: float
    mean_ms: float
    failed: int
    client_cpu_share: float


def h2load_binary() -> str:
    """The h2load executable, or a clear error naming the package to install."""
    return load_generator.executable("h2load", "`apt-get install nghttp2-client` (Debian) or `brew install nghttp2`")


def framed(message: bytes) -> bytes:
    """One uncompressed gRPC message as it travels in an HTTP/2 DATA frame."""
    return b"\x00" + struct.pack(">I", len(message)) + message


def body_file(folder: Path, name: str, message: bytes) -> Path:
    """The framed message in a file, for h2load's `-d`."""
    path = folder / f"{name}.grpc"
    path.write_bytes(framed(message))
    return path


def run(url: str, body: Path, connections: int, seconds: int, answer_bytes: int,
        token: str | None = None) -> H2loadResult:
    """A closed loop of `connections` connections, one call in flight on each (as wrk's), for `seconds`; calls
    whose answers were shorter than `answer_bytes` (framed) in all count as failed."""
    headers = [*GRPC_HEADERS, *([f"authorization: Bearer {token}"] if token else [])]
    command = [h2load_binary(), "-t1", f"-c{connections}", "-m1", "-D", str(seconds), "-d", str(body),
               *[part for header in headers for part in ("-H", header)], url]
    report = load_generator.run(command, seconds)
    output = report.text
    done, succeeded = (int(_find(rf"(\d+) {word}", output)) for word in ("done", "succeeded"))
    data = int(_find(r"\((\d+)\) data", output))
    short = max(0, done - data // answer_bytes) if answer_bytes else 0
    mean = re.findall(r"time for request:\s+\S+\s+\S+\s+(\S+)", output)[0]
    return H2loadResult(
        requests_per_s=float(_find(r"finished in [\d.]+\w+, ([\d.]+) req/s", output)),
        mean_ms=load_generator.duration_ms("h2load", mean),
        failed=int(_find(r"(\d+) failed", output)) + (done - succeeded) + short,
        client_cpu_share=report.client_cpu_share,
    )


def _find(pattern: str, text: str) -> str:
    return load_generator.find("h2load", pattern, text)
