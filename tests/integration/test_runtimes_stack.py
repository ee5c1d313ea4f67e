"""The stack without TorchScript: every model served through TorchServe and the gateway on each runtime it has
beside TorchScript (AOTInductor, ONNX Runtime), with torch.jit.load, script and trace raising in every
TorchServe process (tests/integration/no_torchscript/sitecustomize.py). Each answer matches the one the same
handler gives from model.pt in this process, explanations included (the explained models' archives carry their
torch.export program), and the v2 model metadata names the runtime served."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from handlers import EXPLAINED_KINDS
from loadtests.inprocess import InProcessModel
from serving.archive.builder import build
from serving.modelserver import ModelServerSettings, start, stop
from tests.servers import gateway_process, settings_for
from tests.unit.handlers.approx import approx_json
from training import registry

NO_TORCHSCRIPT = Path(__file__).parent / "no_torchscript"
KEY = "runtimes-key-0123456789abcdef"
PLATFORMS = {"aoti": "pytorch_aoti", "onnx": "onnxruntime_onnx"}
DEFAULT_PLATFORMS = {**PLATFORMS, "torchscript": "pytorch_torchscript"}


@dataclass(frozen=True)
class Stack:
    """A TorchServe and gateway serving every model on one runtime."""

    runtime: str
    models: list[str]
    server: ModelServerSettings
    api: httpx.Client


@pytest.fixture(scope="module", params=sorted(PLATFORMS))
def stack(request: pytest.FixtureRequest, artifacts_dir: Path,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    runtime: str = request.param
    store = tmp_path_factory.mktemp(f"store-{runtime}")
    models = [name for name in registry.names() if runtime in registry.get(name).runtimes]
    for name in models:
        build(artifacts_dir / name, store, "cpu", runtime=runtime)
    settings = settings_for(store, tmp_path_factory.mktemp(f"ts-{runtime}") / "home", startup_timeout_s=300)
    with pytest.MonkeyPatch.context() as env:  # for TorchServe and its workers only, not for the gateway
        env.setenv("PYTHONPATH", os.pathsep.join([str(NO_TORCHSCRIPT), os.environ.get("PYTHONPATH", "")]))
        start(settings)
    try:
        log = tmp_path_factory.mktemp(f"gateway-{runtime}") / "gateway.log"
        with gateway_process(store, settings, log, GATEWAY_API_KEYS=KEY) as (url, _), \
                httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=120) as api:
            yield Stack(runtime, models, settings, api)
    finally:
        stop(settings)


def test_every_model_has_every_runtime() -> None:
    every = ("torchscript", "aoti", "onnx")
    assert {name: registry.get(name).runtimes for name in registry.names()} == dict.fromkeys(registry.names(), every)


def test_every_model_answers_as_from_torchscript(stack: Stack, artifacts_dir: Path) -> None:
    for name in stack.models:
        example = stack.api.get(f"/v1/models/{name}").json()["example_request"]
        answer = stack.api.post(f"/v1/models/{name}/predict", json=example)
        assert answer.status_code == 200, (name, answer.text)
        reference = InProcessModel(artifacts_dir / name, runtime="torchscript").answer([json.dumps(example).encode()])
        assert answer.json() == approx_json(json.loads(reference[0]), 1e-4), name


def test_every_explained_model_explains_as_from_torchscript(stack: Stack, artifacts_dir: Path) -> None:
    explained = [name for name in stack.models if registry.get(name).kind in EXPLAINED_KINDS]
    assert len(explained) == 5
    for name in explained:
        body = {**stack.api.get(f"/v1/models/{name}").json()["example_request"], "steps": 16}
        answer = stack.api.post(f"/v1/models/{name}/explain", json=body)
        assert answer.status_code == 200, (name, answer.text)
        reference = InProcessModel(artifacts_dir / name, runtime="torchscript").answer(
            [json.dumps(body).encode()], {"explain": "True"})
        assert answer.json() == approx_json(json.loads(reference[0]), 1e-4), name


def test_bad_input_is_refused_alike(stack: Stack) -> None:
    answer = stack.api.post("/v1/models/linear_regression/predict", json={"features": [1.0, 2.0]})
    assert answer.status_code == 400
    assert "has 2 values; the model expects 10" in answer.json()["error"]


def test_the_metadata_names_the_served_runtime(stack: Stack) -> None:
    for name in stack.models:
        assert stack.api.get(f"/v2/models/{name}").json()["platform"] == PLATFORMS[stack.runtime], name


def test_the_default_stack_reports_each_models_default_runtime(api: httpx.Client) -> None:
    for name in registry.names():
        expected = DEFAULT_PLATFORMS[registry.get(name).default_runtime]
        assert api.get(f"/v2/models/{name}").json()["platform"] == expected, name


def test_the_workers_ran_without_torchscript(stack: Stack) -> None:
    model_log = (stack.server.ts_home / "logs" / "model_log.log").read_text(encoding="utf-8", errors="replace")
    assert "TorchScript is unavailable in this process" in model_log
    crash = model_log.find("Traceback")
    assert crash == -1, model_log[crash:crash + 4000]
