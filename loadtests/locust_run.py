"""One headless Locust run against a running stack, and the reports it leaves: Locust's CSV statistics and
HTML report, summary.json, latency.png and throughput.png, and the SLO verdict."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from loadtests import reports

LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"


@dataclass(frozen=True)
class LoadSpec:
    """What to run: how many users, how fast they arrive, for how long, against which server and models."""

    users: int
    spawn_rate: float
    duration_s: int
    target: str  # "gateway" or "torchserve"
    models: tuple[str, ...] = ()  # empty: every model of the mix
    mix: Path = LOCUSTFILE.parent / "mix.toml"


@dataclass(frozen=True)
class Outcome:
    """A finished run: its summary and every SLO budget it exceeded."""

    summary: dict[str, object]
    violations: list[str]
    folder: Path


def payload_file(store: Path, models: list[str], folder: Path) -> Path:
    """Each model's v1 and v2 example bodies, from the archives' signatures (for a target without the gateway's
    model pages, i.e. TorchServe directly)."""
    from serving.gateway.core.catalog import Catalog  # the gateway's contract, imported only where payloads are built

    catalog = Catalog.from_store(store)
    bodies = {}
    for name in models:
        entry = catalog.get(name)
        bodies[name] = {"v1": entry.example(), "v2": entry.model_kind.example_infer(entry.signature)}
    path = folder / "payloads.json"
    path.write_text(json.dumps(bodies), encoding="utf-8")
    return path


def run(spec: LoadSpec, host: str, api_key: str, folder: Path, slo: Path | None,
        payloads: Path | None = None) -> Outcome:
    """Run Locust headless for `spec.duration_s` and write every report into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "LOADTEST_TARGET": spec.target, "LOADTEST_API_KEY": api_key,
           "LOADTEST_MODELS": ",".join(spec.models), "LOADTEST_MIX": str(spec.mix),
           "PYTHONWARNINGS": "ignore::DeprecationWarning"}
    if payloads is not None:
        env["LOADTEST_PAYLOADS"] = str(payloads)
    command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--host", host,
               "--users", str(spec.users), "--spawn-rate", str(spec.spawn_rate), "--run-time", f"{spec.duration_s}s",
               "--stop-timeout", "10", "--csv", str(folder / "locust"), "--csv-full-history",
               "--html", str(folder / "report.html"), "--only-summary", "--loglevel", "WARNING"]
    with (folder / "locust.log").open("wb") as log:
        finished = subprocess.run(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                  timeout=spec.duration_s + 120, check=False)
    stats_csv = folder / "locust_stats.csv"
    if not stats_csv.is_file():
        tail = (folder / "locust.log").read_text(errors="replace")[-1500:]
        raise RuntimeError(f"Locust wrote no statistics (exit {finished.returncode}): {tail}")
    stats = reports.read_stats(stats_csv)
    run_info = {"target": spec.target, "host": host, "users": spec.users, "spawn_rate": spec.spawn_rate,
                "duration_s": spec.duration_s, "locust_exit_code": finished.returncode}
    summary = reports.summary(stats, run_info)
    (folder / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    reports.plot_history(folder / "locust_stats_history.csv", folder)
    violations = reports.slo_violations(stats, slo) if slo is not None else []
    failed = sum(row.failures for row in stats)
    if failed:  # any failure fails the run, whatever the budgets say
        violations.insert(0, f"{failed} request(s) failed (see {folder / 'locust_failures.csv'})")
    if not stats:
        violations.append("no request was made (is the mix empty, or did every user fail to start?)")
    if finished.returncode not in (0, 1):  # 1: Locust saw failures, which the budgets judge
        violations.append(f"Locust exited with {finished.returncode} (see {folder / 'locust.log'})")
    return Outcome(summary, violations, folder)
