"""Slow models for the fault and lifecycle tests: linear_regression's archive renamed, with a handler that sleeps
before it answers, so that a request can be caught in flight, timed out, or queued behind a busy worker."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import yaml

REQUEST = {"features": [0.0] * 10}  # ten zero features: a request every one of these models answers
SLEEPY_HANDLER = '''"""A regression handler that takes {seconds} seconds: a slow model of the fault tests."""

import time

from handlers.regression import RegressionHandler


class Handler(RegressionHandler):
    """Sleeps, then answers."""

    def predict(self, items):
        time.sleep({seconds})
        return super().predict(items)
'''


def sleepy_archive(source: Path, target: Path, name: str = "sleepy", seconds: float = 2,
                   batch_size: int | None = None) -> None:
    """linear_regression's archive renamed `name`, with a handler that sleeps `seconds` per batch (by default
    past the gateway's timeout in the timeout test) and optionally another batch size."""
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w") as copy:
        for item in original.infolist():
            data = original.read(item)
            if item.filename in ("MAR-INF/MANIFEST.json", "signature.json"):
                document = json.loads(data)
                if "model" in document:
                    document["model"]["modelName"] = name
                else:
                    document["name"] = name
                data = json.dumps(document).encode()
            elif item.filename == "handler.py":
                data = SLEEPY_HANDLER.format(seconds=seconds).encode()
            elif item.filename == "model-config.yaml" and batch_size is not None:
                data = yaml.safe_dump({**yaml.safe_load(data), "batchSize": batch_size}).encode()
            copy.writestr(item, data)


def brief_archive(source: Path, store: Path) -> None:
    """`brief`: busy under steady load, with a batch small enough that some requests wait in TorchServe's queue
    (the model whose worker the fault and lifecycle tests kill)."""
    sleepy_archive(source, store / "brief.mar", "brief", seconds=0.2, batch_size=2)
