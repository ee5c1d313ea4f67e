"""Run `wrk`, the compiled closed-loop load generator, and read its report: the benchmark's client must
not be what is measured (a Python client saturates before a model server does)."""

import re
import statistics
from dataclasses import dataclass
from pathlib import Path

from loadtests import load_generator
from serving.cli import UsageError

LUA = """wrk.method = "POST"
wrk.body = {body}
wrk.headers["Content-Type"] = "{content_type}"
{auth}
"""


@dataclass(frozen=True)
class WrkResult:
    """One wrk run: throughput, latency percentiles (ms), errors and the client's own CPU share."""

    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    client_cpu_share: float


def median(results: list[WrkResult]) -> WrkResult:
    """The median of each figure over repeated runs (errors summed)."""
    return WrkResult(statistics.median(r.requests_per_s for r in results),
                     statistics.median(r.p50_ms for r in results), statistics.median(r.p99_ms for r in results),
                     sum(r.errors for r in results), statistics.median(r.client_cpu_share for r in results))


def wrk_binary() -> str:
    """The wrk executable, or a clear error naming the package to install."""
    return load_generator.executable("wrk", "`apt-get install wrk` (Debian) or `brew install wrk`")


def require() -> None:
    """Refuse a command that measures with wrk where wrk is missing: a usage error (one line, exit 2) before
    anything starts."""
    try:
        wrk_binary()
    except FileNotFoundError as error:
        raise UsageError(str(error)) from None


def script(folder: Path, name: str, body: bytes, content_type: str, token: str | None) -> Path:
    """A Lua script that POSTs `body` (as a Lua long string, so any bytes pass unescaped)."""
    auth = f'wrk.headers["Authorization"] = "Bearer {token}"' if token else ""
    level = 1
    while f"]{'=' * level}]".encode() in body:
        level += 1
    literal = f"[{'=' * level}[{body.decode('latin-1')}]{'=' * level}]"
    path = folder / f"{name}.lua"
    path.write_text(LUA.format(body=literal, content_type=content_type, auth=auth), encoding="latin-1")
    return path


def run(url: str, lua: Path, connections: int, seconds: int, threads: int = 1) -> WrkResult:
    """One closed-loop run at `connections` concurrent connections."""
    report = load_generator.run([wrk_binary(), f"-t{min(threads, connections)}", f"-c{connections}",
                                 f"-d{seconds}s", "--latency", "-s", str(lua), url], seconds)
    output = report.text
    return WrkResult(
        requests_per_s=float(_find(r"Requests/sec:\s+([\d.]+)", output)),
        p50_ms=load_generator.duration_ms("wrk", _find(r"\s50%\s+([\d.]+\w+)", output)),
        p99_ms=load_generator.duration_ms("wrk", _find(r"\s99%\s+([\d.]+\w+)", output)),
        errors=_errors(output),
        client_cpu_share=report.client_cpu_share,
    )


def _find(pattern: str, text: str) -> str:
    return load_generator.find("wrk", pattern, text)


def _errors(text: str) -> int:
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    return (int(non_2xx.group(1)) if non_2xx else 0) + (sum(int(g) for g in socket.groups()) if socket else 0)
