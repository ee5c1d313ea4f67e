"""What running a compiled load generator (wrk, h2load) takes alike: finding its executable, one run timed with
the client's own CPU share, and reading figures out of its text report."""

from __future__ import annotations

import re
import resource
import shutil
import subprocess
import time
from dataclasses import dataclass

# the units wrk and h2load print durations in
_MS_PER_UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


@dataclass(frozen=True)
class Report:
    """A finished run: the tool's text report and the share of one core the client itself used meanwhile."""

    text: str
    client_cpu_share: float


def executable(name: str, install: str) -> str:
    """The tool's executable, or a clear error saying how to `install` it."""
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} is not installed: {install}")
    return found


def run(command: list[str], seconds: int) -> Report:
    """Run a load of `seconds` to its end (a minute of grace for start and report); its report and CPU share."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    output = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Report(output, cpu / wall)


def find(tool: str, pattern: str, text: str) -> str:
    """The first group of `pattern` in `tool`'s report, or a clear error quoting the report."""
    match = re.search(pattern, text)
    if match is None:
        raise ValueError(f"{tool} output has no {pattern!r}:\n{text}")
    return match.group(1)


def duration_ms(tool: str, value: str) -> float:
    """A duration as the tools print it (`191us`, `32.78ms`, `1.02s`, `2m`), in milliseconds."""
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value)
    if match is None:
        raise ValueError(f"not a duration {tool} prints: {value!r}")
    return float(match.group(1)) * _MS_PER_UNIT[match.group(2)]
