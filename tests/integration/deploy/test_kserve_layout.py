"""`python -m serving.archive.kserve`: the layout KServe's TorchServe runtime reads, from real archives."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from serving.archive.builder import build
from serving.archive.kserve import LayoutError, write_layout
from tests.unit.deploy.manifests import ROOT


@pytest.fixture(scope="module")
def store(artifacts_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("store")
    for name in ("linear_regression", "mlp_classifier"):
        build(artifacts_dir / name, folder, "gpu")
    return folder


def properties(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if line and not line.startswith("#"))


def test_layout(store: Path, tmp_path: Path) -> None:
    out = tmp_path / "kserve"
    copies = write_layout(store, out)
    assert sorted(p.name for p in (out / "model-store").iterdir()) == ["linear_regression.mar", "mlp_classifier.mar"]
    assert [p.read_bytes() for p in copies] == [p.read_bytes() for p in sorted(store.glob("*.mar"))]
    config = properties(out / "config" / "config.properties")
    assert config["model_store"] == "/mnt/models/model-store"
    assert config["inference_address"] == "http://127.0.0.1:8085"  # behind KServe's model server, in the pod
    assert config["management_address"] == "http://127.0.0.1:8081"
    assert config["metrics_address"] == "http://0.0.0.0:8082"
    assert (config["disable_token_authorization"], config["enable_model_api"]) == ("true", "false")
    assert config["service_envelope"] == "kservev2"
    assert "load_models" not in config
    snapshot = json.loads(config["model_snapshot"])
    assert snapshot["modelCount"] == 2
    entry = snapshot["models"]["mlp_classifier"]["1.0"]
    assert (entry["marName"], entry["defaultVersion"], entry["minWorkers"]) == ("mlp_classifier.mar", True, 1)
    assert entry["batchSize"] >= 1


def test_cli(store: Path, tmp_path: Path) -> None:
    ok = subprocess.run([sys.executable, "-m", "serving.archive.kserve", "--store", str(store), "--out",
                         str(tmp_path / "k")], capture_output=True, text=True, check=False, cwd=ROOT)
    assert ok.returncode == 0
    assert "KServe layout with 2 model(s)" in ok.stdout
    empty = subprocess.run([sys.executable, "-m", "serving.archive.kserve", "--store", str(tmp_path / "none")],
                           capture_output=True, text=True, check=False, cwd=ROOT)
    assert empty.returncode == 2
    assert "no .mar archive in" in empty.stderr
    unknown = subprocess.run([sys.executable, "-m", "serving.archive.kserve", "--bogus", "x"],
                             capture_output=True, text=True, check=False, cwd=ROOT)
    assert unknown.returncode == 2
    assert unknown.stderr.strip().splitlines() == ["error: unrecognized arguments: --bogus x"]


def test_a_foreign_archive_is_refused(tmp_path: Path) -> None:
    (tmp_path / "odd.mar").write_bytes(b"not a zip")
    with pytest.raises(LayoutError, match="not an archive made by `make archive`"):
        write_layout(tmp_path, tmp_path / "out")
