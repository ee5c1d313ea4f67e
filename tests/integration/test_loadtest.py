"""The load-test smoke run of `make test`: Locust against the session's gateway (every model, v1 and v2) and
against TorchServe directly, with the reports a user gets and the SLO verdict."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import psutil
import pytest

from serving.modelserver import ModelServerSettings, read_keys
from tests.integration.conftest import KEY
from tests.servers import free_ports

ROOT = Path(__file__).resolve().parents[2]
MIX = tomllib.loads((ROOT / "loadtests/mix.toml").read_text())["weights"]


def _loadtest(*argv: str, key: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "loadtests", "run", *argv], capture_output=True, text=True,
                          timeout=120, check=False, cwd=ROOT, env={**os.environ, "LOADTEST_API_KEY": key})


@pytest.mark.timeout(180)
def test_smoke_run_through_the_gateway(gateway: str, tmp_path: Path) -> None:
    even = tmp_path / "even.toml"  # one user per model, so every model is loaded
    even.write_text("[weights]\n" + "".join(f"{name} = 1\n" for name in MIX) + "[streams]\nchar_rnn = 1\n")
    result = _loadtest("--host", gateway, "--users", str(len(MIX) + 1), "--spawn-rate", "9", "--duration", "12",
                       "--mix", str(even), "--reports", str(tmp_path / "reports"), key=KEY)
    assert result.returncode == 0, result.stdout + result.stderr
    reports = tmp_path / "reports"
    summary = json.loads((reports / "summary.json").read_text())
    assert sorted(summary["models"]) == sorted(MIX)
    for name, model in summary["models"].items():
        assert model["failures"] == 0, name
        assert model["routes"]["v1"]["requests"] > 0, name
        assert model["routes"]["v2"]["requests"] > 0, name
        assert model["routes"]["v1"]["p99_ms"] >= model["routes"]["v1"]["p50_ms"] > 0
    streams = summary["models"]["char_rnn"]["routes"]
    assert streams["ttft"]["requests"] == streams["stream"]["requests"] > 0  # one time to first token per stream
    assert streams["stream"]["p50_ms"] >= streams["ttft"]["p50_ms"] > 0
    assert summary["total"]["failures"] == 0
    for report in ("locust_stats.csv", "locust_stats_history.csv", "report.html", "latency.png", "throughput.png"):
        assert (reports / report).stat().st_size > 0, report
    assert "0 failed" in result.stdout


@pytest.mark.timeout(120)
def test_a_wrong_key_fails_the_run(gateway: str, tmp_path: Path) -> None:
    result = _loadtest("--host", gateway, "--users", "1", "--duration", "2", "--models", "mlp_classifier",
                       "--reports", str(tmp_path), key="not-a-key-0000000000")
    assert result.returncode == 1
    assert "FAIL" in result.stdout


@pytest.mark.timeout(120)
def test_an_exceeded_budget_fails_the_run(gateway: str, tmp_path: Path) -> None:
    slo = tmp_path / "slo.toml"
    slo.write_text("[default]\np50_ms = 0.001\n")
    result = _loadtest("--host", gateway, "--users", "2", "--duration", "3", "--models", "mlp_classifier",
                       "--slo", str(slo), "--reports", str(tmp_path / "reports"), key=KEY)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAIL mlp_classifier v1: p50_ms" in result.stdout
    assert json.loads((tmp_path / "reports/summary.json").read_text())["total"]["failures"] == 0


@pytest.mark.timeout(120)
def test_smoke_run_against_torchserve_directly(server: ModelServerSettings, model_store: Path,
                                               tmp_path: Path) -> None:
    result = _loadtest("--target", "torchserve", "--host", server.inference_url, "--store", str(model_store),
                       "--users", "2", "--duration", "4", "--models", "cnn_digits", "dqn_cartpole",
                       "--reports", str(tmp_path), key=read_keys(server.ts_home).inference)
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert sorted(summary["models"]) == ["cnn_digits", "dqn_cartpole"]
    assert all(list(m["routes"]) == ["torchserve"] and m["routes"]["torchserve"]["requests"] > 0
               for m in summary["models"].values())


@pytest.mark.timeout(180)
def test_sigterm_stops_the_stack_the_run_started(model_store: Path, tmp_path: Path) -> None:
    """A run that started its own TorchServe and gateway (nothing answered at the default address) stops both, and
    Locust, when it is terminated midway: nothing is left running."""
    store = tmp_path / "store"
    store.mkdir()
    shutil.copy(model_store / "linear_regression.mar", store)
    work = Path(tempfile.mkdtemp(prefix="sigterm-"))  # the run's own folders go here: short enough for sockets
    env = {**os.environ, "TMPDIR": str(work), "GATEWAY_PORT": str(free_ports(1)[0]), "LOADTEST_API_KEY": ""}
    command = [sys.executable, "-m", "loadtests", "run", "--store", str(store), "--models", "linear_regression",
               "--users", "1", "--duration", "120", "--reports", str(tmp_path / "reports")]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # the run prints this once both servers answer
        assert line.startswith("started TorchServe and the gateway"), line + process.stderr.read()
        time.sleep(3)  # Locust is loading the stack now
        started = _processes_under(work)
        assert any("java" in " ".join(p.cmdline()) for p in started), "TorchServe's JVM is not running under the run"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 128 + signal.SIGTERM
    finally:
        if process.poll() is None:
            process.kill()
    assert "SIGTERM: stopped, with the servers this command started" in process.stderr.read()
    _, alive = psutil.wait_procs(started, timeout=10)
    assert not [p for p in alive if p.status() != psutil.STATUS_ZOMBIE], [p.cmdline() for p in alive]
    assert not list(work.iterdir())  # its temporary folder is gone too
    work.rmdir()


def _processes_under(folder: Path) -> list[psutil.Process]:
    """Processes whose command line names `folder` (TorchServe, its workers, the gateway's settings …) or that
    descend from one that does."""
    found = []
    for process in psutil.process_iter(["cmdline", "environ"]):
        text = " ".join(process.info["cmdline"] or []) + " ".join((process.info["environ"] or {}).values())
        if str(folder) in text and process.pid != os.getpid():
            found.append(process)
    return found
