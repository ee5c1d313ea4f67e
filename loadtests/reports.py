"""What a Locust run leaves behind, turned into a summary JSON, plots and an SLO verdict."""

from __future__ import annotations

import csv
import math
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: load tests run headless
import matplotlib.pyplot as plt  # noqa: E402

# `stream`: a whole SSE stream, request to last event; `ttft`: its time to first token (loadtests/locustfile.py).
ROUTES = ("v1", "v2", "torchserve", "stream", "ttft")
MEASURES = frozenset({"ttft"})  # statistics of a request counted under another name, not requests


@dataclass(frozen=True)
class RouteStats:
    """One request name of a run (a model on one route)."""

    model: str
    route: str
    requests: int
    failures: int
    requests_per_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float


def read_stats(stats_csv: Path) -> list[RouteStats]:
    """The per-name rows of Locust's `<prefix>_stats.csv` (the Aggregated row left out)."""
    rows = []
    with stats_csv.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["Name"] == "Aggregated":
                continue
            model, _, route = row["Name"].rpartition(" ")
            if route not in ROUTES or not model:
                raise ValueError(f"{stats_csv}: unexpected request name {row['Name']!r}")
            rows.append(RouteStats(model, route, int(row["Request Count"]), int(row["Failure Count"]),
                                   float(row["Requests/s"]), _number(row["50%"]), _number(row["90%"]),
                                   _number(row["99%"])))
    return rows


def summary(stats: list[RouteStats], run: dict[str, Any]) -> dict[str, Any]:
    """requests/s, p50, p90, p99 and failures per model and route, with totals and the run's settings."""
    models: dict[str, dict[str, Any]] = {}
    for row in stats:
        model = models.setdefault(row.model, {"requests": 0, "failures": 0, "requests_per_s": 0.0, "routes": {}})
        model["routes"][row.route] = {k: v for k, v in asdict(row).items() if k not in ("model", "route")}
        if row.route in MEASURES:
            continue
        model["requests"] += row.requests
        model["failures"] += row.failures
        model["requests_per_s"] = round(model["requests_per_s"] + row.requests_per_s, 2)
    requests = [r for r in stats if r.route not in MEASURES]
    return {"run": run, "models": models,
            "total": {"requests": sum(r.requests for r in requests), "failures": sum(r.failures for r in requests),
                      "requests_per_s": round(sum(r.requests_per_s for r in requests), 2)}}


def slo_violations(stats: list[RouteStats], slo_file: Path) -> list[str]:
    """Every latency budget of the SLO file a route exceeded, one line each (failures fail a run anyway)."""
    slo = tomllib.loads(slo_file.read_text(encoding="utf-8"))
    default = slo.get("default", {})
    problems = []
    for row in stats:
        budget = {**default, **slo.get("models", {}).get(row.model, {})}
        name = f"{row.model} {row.route}"
        if row.requests == 0:
            problems.append(f"{name}: no request completed")
            continue
        for percentile in ("p50_ms", "p90_ms", "p99_ms"):
            if percentile in budget and getattr(row, percentile) > budget[percentile]:
                problems.append(f"{name}: {percentile} {getattr(row, percentile):.0f} > budget {budget[percentile]}")
    return problems


def plot_history(history_csv: Path, folder: Path) -> list[Path]:
    """latency.png (p50/p90/p99 over time) and throughput.png (requests/s, failures/s, users over time)."""
    with history_csv.open(newline="", encoding="utf-8") as handle:
        rows = [row for row in csv.DictReader(handle) if row["Name"] == "Aggregated"]
    if not rows:
        raise ValueError(f"{history_csv} has no Aggregated rows: the run recorded nothing")
    start = int(rows[0]["Timestamp"])
    seconds = [int(r["Timestamp"]) - start for r in rows]
    latency, ax = plt.subplots(figsize=(8, 4))
    for column in ("50%", "90%", "99%"):
        ax.plot(seconds, [_number(r[column]) for r in rows], label=f"p{column.rstrip('%')}")
    ax.set(xlabel="seconds", ylabel="latency (ms)", title="Latency percentiles (all requests)")
    ax.legend()
    throughput, ax2 = plt.subplots(figsize=(8, 4))
    ax2.plot(seconds, [float(r["Requests/s"]) for r in rows], label="requests/s")
    ax2.plot(seconds, [float(r["Failures/s"]) for r in rows], label="failures/s")
    ax2.set(xlabel="seconds", ylabel="per second", title="Throughput")
    users = ax2.twinx()
    users.plot(seconds, [int(r["User Count"]) for r in rows], color="grey", linestyle=":", label="users")
    users.set_ylabel("users")
    ax2.legend(loc="upper left")
    paths = [folder / "latency.png", folder / "throughput.png"]
    for figure, path in zip((latency, throughput), paths, strict=True):
        figure.tight_layout()
        figure.savefig(path, dpi=100)
        plt.close(figure)
    return paths


def _number(value: str) -> float:
    """Locust writes N/A for a percentile it has no sample for."""
    return math.nan if value in ("N/A", "") else float(value)
