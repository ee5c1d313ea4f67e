"""Ask a running TorchServe how it is: `/ping` on the inference API, worker states on the management API.

`/ping` says Healthy as soon as the frontend is up, even while workers still load, so readiness is read from
the management API: every model must have at least `minWorkers` workers in state READY.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from serving.modelserver.keys import TokenKeys
from serving.modelserver.settings import ModelServerSettings

PROBE_TIMEOUT_S = 5.0
READY = "READY"


@dataclass(frozen=True)
class ModelState:
    """One model's default version: how many workers it needs and the state of each."""

    name: str
    min_workers: int
    worker_states: tuple[str, ...]

    @property
    def ready(self) -> bool:
        """At least `min_workers` workers are READY."""
        return self.worker_states.count(READY) >= self.min_workers

    def describe(self) -> str:
        """`name (1/2 workers READY: READY, UNLOADING)`."""
        states = ", ".join(self.worker_states) or "no workers"
        return f"{self.name} ({self.worker_states.count(READY)}/{self.min_workers} workers READY: {states})"


def ping(settings: ModelServerSettings, keys: TokenKeys) -> str | None:
    """The status `/ping` reports ("Healthy" …), or None when the inference API does not answer 200."""
    try:
        response = httpx.get(f"{settings.inference_url}/ping", headers=keys.inference_headers(),
                             timeout=PROBE_TIMEOUT_S)
        return str(response.json()["status"]) if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return None


def _get_json(client: httpx.Client, path: str) -> Any:
    response = client.get(path)
    response.raise_for_status()
    return response.json()


def model_states(settings: ModelServerSettings, keys: TokenKeys) -> list[ModelState] | None:
    """The state of every registered model, or None when the management API does not answer."""
    try:
        with httpx.Client(base_url=settings.management_url, headers=keys.management_headers(),
                          timeout=PROBE_TIMEOUT_S) as client:
            listing = _get_json(client, "/models?limit=1000")  # TorchServe pages at 100 models by default
            states = []
            for entry in listing.get("models", []):
                name = str(entry["modelName"])
                default = _get_json(client, f"/models/{name}")[0]  # the default version comes first
                states.append(ModelState(name=name, min_workers=int(default.get("minWorkers", 1)),
                                         worker_states=tuple(str(w["status"]) for w in default.get("workers", []))))
            return states
    except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError):
        return None
