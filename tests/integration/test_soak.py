"""The two-minute soak of `make test`: 32 users of the mixed load on a stack of its own, no failure, and no
process growing more than 10% in resident memory after warm-up (`make soak` runs the same for 30 minutes)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(420)
def test_two_minute_soak(model_store: Path, tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "loadtests", "soak", "--duration", "120", "--warmup", "40",
                             "--users", "32", "--store", str(model_store), "--reports", str(tmp_path)],
                            capture_output=True, text=True, timeout=400, check=False, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((tmp_path / "soak.json").read_text())
    assert report["failures"] == 0
    assert report["requests"] > 1000
    assert report["problems"] == []
    assert {"gateway", "cnn_digits", "char_rnn"} <= set(report["memory"])
    assert all(m["growth"] < 0.10 for m in report["memory"].values())
    assert (tmp_path / "memory.png").stat().st_size > 0
