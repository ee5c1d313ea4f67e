"""The artifact folder of one model: model.pt, signature.json, metrics.json, model_card.md, curve.png."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from handlers import runtimes  # noqa: E402
from training.card import render_card  # noqa: E402
from training.export import torchscript_deprecation_silenced  # noqa: E402
from training.registry import ModelSpec  # noqa: E402

MODEL_FILE = "model.pt"
SIGNATURE_FILE = "signature.json"
METRICS_FILE = "metrics.json"
CARD_FILE = "model_card.md"
CURVE_FILE = "curve.png"
ARTIFACT_FILES = (MODEL_FILE, SIGNATURE_FILE, METRICS_FILE, CARD_FILE, CURVE_FILE)
# Bumped whenever signature.json gains or changes a field, so `train --missing` rebuilds older artifacts.
FORMAT_VERSION = 3
# The model files of the runtimes beside TorchScript (training/portable.py names them per runtime), and the
# explanation program of an explained model. The program is added to an artifact of this format without
# retraining (training/explanation.py), so it needs no new FORMAT_VERSION.
RUNTIME_FILES = ("model.pt2", "model.onnx", runtimes.PROGRAM_FILE)


def build_signature(spec: ModelSpec, dims: dict[str, int], extra: dict[str, Any],
                    version: str | None = None) -> dict[str, Any]:
    """signature.json: the spec's facts with every dimension resolved, so the artifact describes itself (and
    carries its version: `version`, or the registry's)."""
    return {
        "name": spec.name,
        "version": version or spec.version,
        "artifact_format": FORMAT_VERSION,
        "kind": str(spec.kind),
        "dataset": spec.dataset,
        "inputs": [t.resolve(dims) for t in spec.inputs],
        "outputs": [t.resolve(dims) for t in spec.outputs],
        "serving": dict(spec.serving),
        **extra,
    }


def write(folder: Path, spec: ModelSpec, scripted: Any, signature: dict[str, Any],
          metrics: dict[str, Any], history: dict[str, list[float]], staged: Sequence[Path] = ()) -> None:
    """Write the whole artifact folder: `staged` are the other runtimes' checked files, moved in; the
    TorchScript file comes last, so a present model.pt means complete. Model files of an earlier run go
    first, so no runtime's file can outlive the weights it was exported from."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in (MODEL_FILE, *RUNTIME_FILES):
        (folder / name).unlink(missing_ok=True)
    for path in staged:
        path.replace(folder / path.name)
    describe(folder, spec, signature, metrics)
    plot_curve(history, folder / CURVE_FILE, title=spec.name)
    with torchscript_deprecation_silenced():
        torch.jit.save(scripted, str(folder / MODEL_FILE))


def describe(folder: Path, spec: ModelSpec, signature: dict[str, Any], metrics: dict[str, Any]) -> None:
    """Write the files that describe the model files: signature.json, metrics.json and model_card.md."""
    _write_json(folder / SIGNATURE_FILE, signature)
    _write_json(folder / METRICS_FILE, metrics)
    (folder / CARD_FILE).write_text(render_card(spec, signature, metrics), encoding="utf-8")


def sync_serving(folder: Path, spec: ModelSpec) -> bool:
    """Bring signature.json's serving hints and default runtime up to the registry's (they choose how TorchServe
    serves the model, not the weights, so a change needs no retraining), and the model card that states the
    default with them; True when the file changed."""
    path = folder / SIGNATURE_FILE
    signature = read_json(path)
    wanted: dict[str, Any] = {"serving": dict(spec.serving)}
    if spec.default_runtime in signature.get("runtimes", {}):  # an artifact exported without it keeps its own
        wanted["default_runtime"] = spec.default_runtime
    if all(signature.get(key) == value for key, value in wanted.items()):
        return False
    metrics = folder / METRICS_FILE
    if metrics.is_file():
        describe(folder, spec, {**signature, **wanted}, read_json(metrics))
    else:  # a folder with a signature alone (tests, a hand-made artifact): nothing else describes it
        _write_json(path, {**signature, **wanted})
    return True


def read_json(path: Path) -> dict[str, Any]:
    """Load a JSON artifact file."""
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def is_complete(folder: Path) -> bool:
    """Whether every artifact file is present, the file of each runtime signature.json lists (and of its
    explanation program) included."""
    if not all((folder / name).is_file() for name in ARTIFACT_FILES):
        return False
    signature = read_json(folder / SIGNATURE_FILE)
    listed = [*signature.get("runtimes", {}).values(), *([signature["explanation"]] if "explanation" in signature
                                                         else [])]
    return all((folder / entry["file"]).is_file() for entry in listed)


def plot_curve(history: dict[str, list[float]], path: Path, *, title: str) -> None:
    """One panel per recorded series (training loss, held-out metric, returns …) against its step."""
    series = {k: v for k, v in history.items() if v}
    fig, axes = plt.subplots(1, max(1, len(series)), figsize=(4.5 * max(1, len(series)), 3.2), squeeze=False)
    for ax, (name, values) in zip(axes[0], series.items(), strict=False):
        ax.plot(range(1, len(values) + 1), values)
        ax.set_title(name)
        ax.set_xlabel("epoch" if name in ("loss", "accuracy", "r2") else "step")
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
