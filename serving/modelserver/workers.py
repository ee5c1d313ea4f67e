"""The Python workers TorchServe runs for a model, as its management API describes them."""

from __future__ import annotations

import httpx

from serving.modelserver.keys import read_keys
from serving.modelserver.settings import ModelServerSettings


def worker_pids(settings: ModelServerSettings, model: str, *, all_versions: bool = False) -> list[int]:
    """The pids of the model's workers, sorted: of its default version, or of every version it has loaded.

    A worker that TorchServe is still starting has no pid yet and is left out."""
    path = f"/models/{model}/all" if all_versions else f"/models/{model}"
    headers = read_keys(settings.ts_home).management_headers()
    described = httpx.get(f"{settings.management_url}{path}", headers=headers, timeout=10)
    described.raise_for_status()
    return sorted(int(worker["pid"]) for version in described.json() for worker in version["workers"]
                  if worker.get("pid"))
