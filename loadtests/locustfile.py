"""Locust users for the stack: one user class per served model, weighted by the mix file.

Standalone on purpose (it runs in a Locust master/worker pod with only this file and `mix.toml`): it imports
nothing from the project. Configured by environment variables:

- `LOADTEST_MIX`: the mix file (default: `mix.toml` beside this file): model → weight, and in `[streams]` the
  weights of the users that stream (gateway only).
- `LOADTEST_MODELS`: a comma-separated subset of the mix to run (default: every model in it).
- `LOADTEST_TARGET`: `gateway` (v1 and v2 routes, default) or `torchserve` (its `/predictions` route).
- `LOADTEST_API_KEY`: sent as `Authorization: Bearer …` (the gateway's API key or TorchServe's inference key).
- `LOADTEST_PAYLOADS`: a JSON file {model: {"v1": body, "v2": body}}; without it each model's held-out
  example is read once from the gateway's model page (`GET /v1/models/{name}`).

Each request is named `<model> v1`, `<model> v2` or `<model> torchserve` in Locust's statistics; a stream is
`<model> stream` (request to last event) and its time to first token `<model> ttft`, a statistic of its own.
"""

from __future__ import annotations

import json
import os
import time
import tomllib
from pathlib import Path
from typing import Any

import requests
from locust import FastHttpUser, User, constant, task

HERE = Path(__file__).resolve().parent
TARGETS = ("gateway", "torchserve")


def mix(section: str = "weights") -> dict[str, int]:
    """model → weight, from the mix file's `section`, restricted to LOADTEST_MODELS when set."""
    path = Path(os.environ.get("LOADTEST_MIX", HERE / "mix.toml"))
    table = tomllib.loads(path.read_text(encoding="utf-8")).get(section, {})
    weights = {name: int(weight) for name, weight in table.items()}
    chosen = [m.strip() for m in os.environ.get("LOADTEST_MODELS", "").split(",") if m.strip()]
    unknown = sorted(set(chosen) - set(weights))
    if unknown and section == "weights":
        raise SystemExit(f"error: LOADTEST_MODELS names models the mix does not have: {', '.join(unknown)}")
    return {name: weight for name, weight in weights.items() if not chosen or name in chosen}


def target() -> str:
    """Which server the users call."""
    value = os.environ.get("LOADTEST_TARGET", "gateway")
    if value not in TARGETS:
        raise SystemExit(f"error: LOADTEST_TARGET must be one of {', '.join(TARGETS)}, not {value!r}")
    return value


_PAYLOADS: dict[str, dict[str, Any]] = {}


def payloads(host: str, model: str, headers: dict[str, str]) -> dict[str, Any]:
    """The model's v1 and v2 request bodies (read once per process)."""
    if not _PAYLOADS and os.environ.get("LOADTEST_PAYLOADS"):
        _PAYLOADS.update(json.loads(Path(os.environ["LOADTEST_PAYLOADS"]).read_text(encoding="utf-8")))
    if model not in _PAYLOADS:
        page = requests.get(f"{host}/v1/models/{model}", headers=headers, timeout=30)
        page.raise_for_status()
        body = page.json()
        _PAYLOADS[model] = {"v1": body["example_request"], "v2": body["example_infer_request"]}
    return _PAYLOADS[model]


class OneModel:
    """What every user here shares: the one model it calls, as fast as its answers come back (closed loop: no
    think time), with the JSON headers (and API key) and the model's example bodies."""

    model = ""
    wait_time = constant(0)
    host: str | None

    @property
    def base_url(self) -> str:
        """The target's URL without a trailing slash."""
        return str(self.host).rstrip("/")

    def examples(self) -> dict[str, Any]:
        """Set the request headers; the model's v1 and v2 example bodies."""
        key = os.environ.get("LOADTEST_API_KEY", "")
        self.headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})}
        return payloads(self.base_url, self.model, self.headers)


class ModelUser(OneModel, FastHttpUser):
    """Calls one model's v1 and v2 routes (or TorchServe's own)."""

    abstract = True

    def on_start(self) -> None:
        bodies = self.examples()
        self.v1 = json.dumps(bodies["v1"])
        self.v2 = json.dumps(bodies["v2"])
        self.direct = target() == "torchserve"

    @task(3)
    def predict(self) -> None:
        """v1 (or TorchServe's own route, when it is the target)."""
        if self.direct:
            self.client.post(f"/predictions/{self.model}", data=self.v1, headers=self.headers,
                             name=f"{self.model} torchserve")
        else:
            self.client.post(f"/v1/models/{self.model}/predict", data=self.v1, headers=self.headers,
                             name=f"{self.model} v1")

    @task(1)
    def infer(self) -> None:
        """The Open Inference Protocol route (gateway only; TorchServe direct gets v1-shaped bodies)."""
        if self.direct:
            self.predict()
        else:
            self.client.post(f"/v2/models/{self.model}/infer", data=self.v2, headers=self.headers,
                             name=f"{self.model} v2")


class StreamUser(OneModel, User):
    """Reads one stream after another: `"stream": true` on the v1 route, as Server-Sent Events. The whole stream
    and its time to first token are each reported as a request of their own."""

    abstract = True

    def on_start(self) -> None:
        example = self.examples()["v1"]
        self.body = json.dumps({**example, "max_new_tokens": 200, "stream": True})
        self.session = requests.Session()

    @task
    def stream(self) -> None:
        """One stream, read to its end (an `error` event or a missing `done` is a failure)."""
        start = time.perf_counter()
        first, size, last, done = None, 0, b"", False
        error: Exception | None = None
        try:
            with self.session.post(f"{self.base_url}/v1/models/{self.model}/predict", data=self.body,
                                   headers=self.headers, stream=True, timeout=60) as response:
                response.raise_for_status()
                for line in response.iter_lines():
                    if not line:
                        continue
                    first = first or time.perf_counter()
                    size += len(line)
                    if last == b"event: error":
                        error = RuntimeError(f"stream failed: {line[:200]!r}")
                    done = done or line == b"event: done"
                    last = line
            if error is None and not done:
                error = RuntimeError("stream ended without its done event")
        except (requests.RequestException, OSError) as exc:
            error = exc
        end = time.perf_counter()
        self._report("ttft", ((first or end) - start) * 1000, 0, error)
        self._report("stream", (end - start) * 1000, size, error)

    def _report(self, route: str, ms: float, size: int, error: Exception | None) -> None:
        self.environment.events.request.fire(request_type="SSE", name=f"{self.model} {route}", response_time=ms,
                                             response_length=size, exception=error, context={})


def _class_name(model: str, kind: str = "User") -> str:
    return "".join(part.title() for part in model.split("_")) + kind


# One user class per model: Locust reports and spawns them by class, weighted as the mix says.
for _model, _weight in mix().items():
    globals()[_class_name(_model)] = type(_class_name(_model), (ModelUser,), {"model": _model, "weight": _weight})
if target() == "gateway":
    for _model, _weight in mix("streams").items():
        globals()[_class_name(_model, "StreamUser")] = type(_class_name(_model, "StreamUser"), (StreamUser,),
                                                            {"model": _model, "weight": _weight})
