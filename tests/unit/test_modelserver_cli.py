"""`python -m serving.modelserver` as a user meets it: bad input is one line on stderr and exit code 2."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.upper().startswith("TS_")}
    return subprocess.run([sys.executable, "-m", "serving.modelserver", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={**clean, **(env or {})}, check=False)


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ")
    return lines[0]


def test_missing_model_store(tmp_path: Path) -> None:
    line = one_line_error(run_cli("start", "--model-store", str(tmp_path / "nope"), "--home", str(tmp_path / "h")))
    assert line == f"error: model store {tmp_path / 'nope'} is not a directory (set TS_MODEL_STORE or --model-store)"
    assert not (tmp_path / "h").exists()


def test_model_store_without_archives(tmp_path: Path) -> None:
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "notes.txt").write_text("not an archive")
    line = one_line_error(run_cli("start", "--model-store", str(tmp_path / "store"), "--home", str(tmp_path / "h")))
    assert line == f"error: model store {tmp_path / 'store'} holds no .mar archive"


def test_port_in_use(tmp_path: Path) -> None:
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "echo.mar").write_bytes(b"checked only after the ports")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("start", "--model-store", str(tmp_path / "store"), "--home", str(tmp_path / "h"),
                         env={"TS_INFERENCE_PORT": str(port)})
    assert one_line_error(result) == f"error: port {port} (ts_inference_port) on 127.0.0.1 is already in use"


@pytest.mark.parametrize(("env", "expected"), [
    ({"TS_METRICS_PORT": "70000"}, "error: invalid settings: ts_metrics_port must be in 1..65535, got 70000"),
    ({"TS_INFERENCE_PORT": "http"},
     "error: invalid settings: ts_inference_port: Input should be a valid integer, unable to parse string as an "
     "integer"),
    ({"TS_BIND_HOST": "0.0.0.0"}, "error: invalid settings: ts_bind_host '0.0.0.0' is not a loopback address; "
                                  "TorchServe may listen beyond this machine only with TS_PROFILE=production"),
])
def test_bad_settings(env: dict[str, str], expected: str) -> None:
    assert one_line_error(run_cli("status", env=env)) == expected


def test_unknown_command() -> None:
    assert "invalid choice: 'restart'" in one_line_error(run_cli("restart"))


def test_stop_and_status_when_nothing_runs(tmp_path: Path) -> None:
    stopped = run_cli("stop", "--home", str(tmp_path / "h"))
    assert (stopped.returncode, stopped.stdout, stopped.stderr) == (0, "TorchServe is stopped.\n", "")
    report = run_cli("status", "--home", str(tmp_path / "h"))
    assert report.returncode == 0
    assert json.loads(report.stdout) == {
        "running": False, "pid": None, "home": str(tmp_path / "h"), "inference_url": "http://127.0.0.1:8080",
        "management_url": "http://127.0.0.1:8081", "metrics_url": "http://127.0.0.1:8082", "ping": None,
        "models": {},
    }
