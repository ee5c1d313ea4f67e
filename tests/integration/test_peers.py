"""The bench's peers for real: each one installed into its own venv (once, under the bench's cache), started in
each of its modes, answering the bench's request with the probabilities of the model in-process, and stopped with
no process left; then `python -m loadtests bench --quick`, the stack against one peer for seconds.

Installing a peer costs a minute and a few hundred MB beside the shared torch, so CI tests the quick peer
(LitServe) and TorchServe, which needs no venv; `LOADTEST_PEERS=all` (or a comma-separated list) tests others."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import psutil
import pytest

from loadtests.peers import compare, processes
from loadtests.peers.registry import PEERS, QUICK

ROOT = Path(__file__).resolve().parents[2]
CHOSEN = os.environ.get("LOADTEST_PEERS", f"{QUICK},torchserve")
TESTED = list(PEERS) if CHOSEN == "all" else CHOSEN.split(",")


def _chosen(name: str) -> None:
    if name not in TESTED:
        pytest.skip(f"{name} is tested with LOADTEST_PEERS=all or LOADTEST_PEERS={name}")


@pytest.mark.timeout(900)
@pytest.mark.parametrize("name", list(PEERS))
def test_each_mode_answers_with_the_probabilities_of_the_model_in_process(name: str, artifacts_dir: Path,
                                                                         tmp_path: Path) -> None:
    _chosen(name)
    peer = PEERS[name]
    python = compare.python_for(peer)
    cases = [("mlp_classifier", mode) for mode in peer.modes] + [("cnn_digits", peer.modes[-1])]
    for model, mode in cases:
        model_dir = artifacts_dir / model
        with processes.started(peer, compare.launch(peer, python, model_dir, mode, tmp_path)) as started:
            for route in peer.routes:
                assert np.allclose(compare.check(started, route), compare.expected(route, model_dir), atol=1e-5)
            bad = processes.answer(started, peer.routes[0], b'{"instances": "not a tensor"}')
            members = processes.tree(started.process.pid, started.roots)
            pss, count = processes.footprint(started)
        assert bad.status_code >= 400, (model, mode, bad.text)
        assert count == len(members) >= 1
        assert pss > 20  # a python with torch loaded: tens of MiB at least
        left = [p for p in members if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        assert not left, [p.cmdline() for p in left]


@pytest.mark.timeout(300)
def test_an_answer_off_by_more_than_the_export_tolerance_is_refused(artifacts_dir: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The parity check can fail: the real answer against probabilities moved by 1e-4 (the tolerance is 1e-5)."""
    peer, model_dir = PEERS["torchserve"], artifacts_dir / "mlp_classifier"
    truth = compare.expected(peer.routes[0], model_dir)
    moved = [[p + 1e-4 for p in row] for row in truth]
    with processes.started(peer, compare.launch(peer, Path(sys.executable), model_dir, "plain", tmp_path)) as started:
        assert np.allclose(compare.check(started, peer.routes[0]), truth, atol=1e-5)
        monkeypatch.setattr(compare, "expected", lambda route, model_dir: moved)
        with pytest.raises(compare.PeerMismatch, match=r"^v1 of mlp_classifier: \[\[0\.0197"):
            compare.check(started, peer.routes[0])


@pytest.mark.timeout(900)
def test_quick_bench_writes_the_peer_table_and_chart(artifacts_dir: Path, model_store: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    shutil.copy(model_store / "mlp_classifier.mar", store)
    out = tmp_path / "bench.md"
    result = subprocess.run([sys.executable, "-m", "loadtests", "bench", "--quick", "--store", str(store),
                             "--artifacts", str(artifacts_dir), "--out", str(out)], cwd=ROOT, capture_output=True,
                            text=True, timeout=850, check=False)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    text = out.read_text()
    assert "## The stack against its peers" in text
    rows = [line for line in text.splitlines() if line.startswith(("| LitServe", "| this stack"))]
    assert [row.split(" | ")[0] for row in rows] == ["| LitServe 0.2.19 json", "| this stack v1", "| this stack v2"]
    assert all(row.count(" · ") == 4 for row in rows), rows  # req/s · p50 · p99 at 1 and at 4 connections
    assert "(plain " in rows[0]
    assert "batched " in rows[0]
    assert "The stack's memory for `mlp_classifier`: gateway " in text
    assert (tmp_path / "bench.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "bench-peers.png").read_bytes()[:4] == b"\x89PNG"
