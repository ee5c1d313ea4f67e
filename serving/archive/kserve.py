"""`python -m serving.archive.kserve`: the storage layout KServe's TorchServe runtime expects, from a model store.

    <out>/config/config.properties   TorchServe's config, with a model_snapshot naming every model
    <out>/model-store/<model>.mar    copies of the archives

Upload <out> to the InferenceService's `storageUri` (k8s/kserve/); KServe mounts it at /mnt/models and starts
`torchserve --model-store=/mnt/models/model-store --ts-config=/mnt/models/config/config.properties`. The config is
the runtime's own locked-down rendering (serving.modelserver.properties) with three differences the runtime
needs: KServe's model server in the same container calls TorchServe on loopback without a token, the
`kservev2` envelope (protocol v2) is named in the file, and the models come from a snapshot, which is how
KServe's wrapper learns their names.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import zipfile
from pathlib import Path
from typing import Any

import yaml

from serving.cli import USAGE_ERROR, Parser, UsageError
from serving.modelserver.properties import escape_value, render
from serving.modelserver.settings import ModelServerSettings
from serving.versions import version_key

MOUNT = "/mnt/models"  # where KServe's storage initializer puts the storageUri's content
# KServe's wrapper listens on 8080 in the same container and reaches TorchServe here (pytorch/serve's KServe
# config); 8082 is the metrics port KServe's Prometheus annotations name.
KSERVE_PORTS = {"ts_inference_port": 8085, "ts_management_port": 8081, "ts_metrics_port": 8082,
                "ts_grpc_inference_port": 7070, "ts_grpc_management_port": 7071}
SNAPSHOT_FIELDS = ("minWorkers", "maxWorkers", "batchSize", "maxBatchDelay", "responseTimeout", "startupTimeout")


class LayoutError(Exception):
    """The model store cannot be turned into a KServe layout (missing, empty, or an archive without config)."""


def kserve_settings(mount: str = MOUNT) -> ModelServerSettings:
    """The runtime's settings inside KServe's container: every TorchServe API on loopback, without a token."""
    return ModelServerSettings.model_validate({
        "ts_model_store": Path(mount) / "model-store", "ts_profile": "production", "ts_token_auth": False,
        **KSERVE_PORTS})


def snapshot_entry(archive: Path) -> tuple[str, str, dict[str, Any]]:
    """(model name, version, snapshot entry) from the manifest and model-config.yaml an archive carries."""
    try:
        with zipfile.ZipFile(archive) as mar:
            manifest = json.loads(mar.read("MAR-INF/MANIFEST.json"))["model"]
            config = yaml.safe_load(mar.read("model-config.yaml")) or {}
    except (KeyError, ValueError, zipfile.BadZipFile, yaml.YAMLError) as error:
        raise LayoutError(f"{archive}: not an archive made by `make archive` ({error})") from None
    entry = {"defaultVersion": True, "marName": archive.name,
             **{field: int(config[field]) for field in SNAPSHOT_FIELDS if field in config}}
    return str(manifest["modelName"]), str(manifest["modelVersion"]), entry


def render_config(archives: list[Path], mount: str = MOUNT) -> str:
    """config.properties for KServe: the locked-down rendering, the kservev2 envelope and the model snapshot."""
    models: dict[str, dict[str, Any]] = {}
    for archive in archives:
        name, version, entry = snapshot_entry(archive)
        models.setdefault(name, {})[version] = entry
    for versions in models.values():  # several versions of a model: the newest is TorchServe's default
        newest = max(versions, key=version_key)
        for version, entry in versions.items():
            entry["defaultVersion"] = version == newest
    snapshot = {"name": "startup.cfg", "modelCount": len(models), "models": models}
    settings = kserve_settings(mount)
    lines = [line for line in render(settings).splitlines() if not line.startswith("load_models=")]
    lines[0] = "# Rendered by `python -m serving.archive.kserve` for KServe's TorchServe runtime (docs/deploy.md)."
    # Prometheus scrapes the pod's address; metrics carry no request data and control nothing.
    metrics = lines.index(f"metrics_address={settings.metrics_url}")
    lines[metrics] = f"metrics_address=http://0.0.0.0:{settings.ts_metrics_port}"
    lines += ["service_envelope=kservev2",
              f"model_snapshot={escape_value(json.dumps(snapshot, sort_keys=True, separators=(',', ':')))}"]
    return "\n".join(lines) + "\n"


def write_layout(store: Path, out: Path, mount: str = MOUNT) -> list[Path]:
    """Write config/config.properties and model-store/ under `out` (replacing an older layout); the archives."""
    archives = sorted(store.glob("*.mar")) if store.is_dir() else []
    if not archives:
        raise LayoutError(f"no .mar archive in {store} (run `make archive`)")
    config = render_config(archives, mount)
    shutil.rmtree(out / "model-store", ignore_errors=True)
    (out / "model-store").mkdir(parents=True)
    (out / "config").mkdir(exist_ok=True)
    copies = [Path(shutil.copy2(archive, out / "model-store" / archive.name)) for archive in archives]
    (out / "config" / "config.properties").write_text(config, encoding="utf-8")
    return copies


def main(argv: list[str] | None = None) -> int:
    """CLI: exit 0, or 2 with one line on stderr."""
    parser = Parser(prog="python -m serving.archive.kserve", description=__doc__,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", type=Path, default=Path("model_store"))
    parser.add_argument("--out", type=Path, default=Path("build/kserve"))
    try:
        args = parser.parse_args(argv)
        copies = write_layout(args.store, args.out)
    except (UsageError, LayoutError) as error:
        print(f"error: {error}", file=sys.stderr)
        return USAGE_ERROR
    print(f"KServe layout with {len(copies)} model(s) → {args.out} (upload it to the InferenceService's storageUri)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
