"""docker/build-model-store.sh, the image builder's step, run outside Docker: every curriculum model archived
with the deviceType the image asks for, from artifacts that exist (nothing is retrained)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import yaml

from tests.servers import ROOT
from training import registry


def test_builds_every_archive_for_the_gpu_image(artifacts_dir: Path, tmp_path: Path) -> None:
    before = {p: p.stat().st_mtime_ns for p in artifacts_dir.glob("*/model.pt")}
    env = {**os.environ, "PYTHON": sys.executable,
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run(["sh", str(ROOT / "docker/build-model-store.sh"), str(artifacts_dir),
                             str(tmp_path / "store"), "gpu"], env=env, capture_output=True, text=True,
                            check=False, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    archives = sorted(tmp_path.joinpath("store").glob("*.mar"))
    assert [a.stem for a in archives] == sorted(registry.names())
    for archive in archives:
        with zipfile.ZipFile(archive) as mar:
            assert yaml.safe_load(mar.read("model-config.yaml"))["deviceType"] == "gpu"
    assert {p: p.stat().st_mtime_ns for p in artifacts_dir.glob("*/model.pt")} == before  # nothing retrained
