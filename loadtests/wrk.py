"""Run `wrk`, the compiled closed-loop load generator, and read its report: the benchmark's client must
not be what is measured (a Python client saturates before a model server does)."""

import re
import resource
import shutil
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

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
    found = shutil.which("wrk")
    if found is None:
        raise FileNotFoundError("wrk is not installed: `apt-get install wrk` (Debian) or `brew install wrk`")
    return found


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
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    output = subprocess.run(
        [wrk_binary(), f"-t{min(threads, connections)}", f"-c{connections}", f"-d{seconds}s", "--latency",
         "-s", str(lua), url], capture_output=True, text=True, check=True, timeout=seconds + 60,
    ).stdout
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return WrkResult(
        requests_per_s=float(_find(r"Requests/sec:\s+([\d.]+)", output)),
        p50_ms=_ms(_find(r"\s50%\s+([\d.]+\w+)", output)),
        p99_ms=_ms(_find(r"\s99%\s+([\d.]+\w+)", output)),
        errors=_errors(output),
        client_cpu_share=cpu / wall,
    )


def _find(pattern: str, text: str) -> str:
    match = re.search(pattern, text)
    if match is None:
        raise ValueError(f"wrk output has no {pattern!r}:\n{text}")
    return match.group(1)


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(\w+)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def _errors(text: str) -> int:
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    return (int(non_2xx.group(1)) if non_2xx else 0) + (sum(int(g) for g in socket.groups()) if socket else 0)
