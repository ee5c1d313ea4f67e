"""The admin API against a TorchServe the gateway reaches as a remote one (GATEWAY_TORCHSERVE_URL), with its
management URL and its key file: a real TorchServe with token authorization on, and a real gateway process.
Registration by name from the store serves the new version; without a management URL the same action is a 503
that says what to set, while predictions still carry the inference key from the key file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from serving.archive.builder import build
from serving.gateway.core.catalog import read_archive
from serving.modelserver import ModelServerSettings, read_keys, start, stop
from serving.modelserver.keys import KEY_FILE
from tests.conftest import ARTIFACTS
from tests.error_bodies import error_of
from tests.servers import gateway_process, settings_for

ADMIN_KEY = "remote-admin-key-0123456789"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
LOADED = "mlp_classifier.mar"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """mlp_classifier 1.0 (loaded at start) and 1.1 (registered through the admin API)."""
    assert (ARTIFACTS / "mlp_classifier" / "model.pt").is_file(), "train mlp_classifier first"
    folder = tmp_path_factory.mktemp("remote-store")
    build(ARTIFACTS / "mlp_classifier", folder, "cpu")
    build(ARTIFACTS / "mlp_classifier", folder, "cpu", version="1.1")
    return folder


@pytest.fixture(scope="module")
def torchserve(store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelServerSettings]:
    """Token authorization on (the default), the model API on: what a management API beyond loopback needs."""
    settings = settings_for(store, tmp_path_factory.mktemp("ts-remote") / "home", ts_model_api=True,
                            ts_models=LOADED)
    start(settings)
    try:
        yield settings
    finally:
        stop(settings)


@pytest.fixture
def management() -> bool:
    """Whether the gateway is given TorchServe's management URL (a test parametrises it False to go without)."""
    return True


@pytest.fixture
def http(store: Path, torchserve: ModelServerSettings, management: bool, tmp_path: Path) -> Iterator[httpx.Client]:
    """A client of a real gateway process that reaches `torchserve` as a remote one: its URL, its key file and the
    admin key, and its management URL where `management` is True."""
    env = {"GATEWAY_TORCHSERVE_URL": torchserve.inference_url,
           "GATEWAY_TORCHSERVE_KEY_FILE": str(torchserve.ts_home / KEY_FILE),
           "GATEWAY_ADMIN_KEYS": ADMIN_KEY, "TS_MODELS": LOADED}
    if management:
        env["GATEWAY_TORCHSERVE_MANAGEMENT_URL"] = torchserve.management_url
    with gateway_process(store, torchserve, tmp_path / "gateway.log", **env) as (url, _), \
            httpx.Client(base_url=url, timeout=120) as client:
        yield client


@pytest.fixture(scope="module")
def body(store: Path) -> dict[str, Any]:
    """A valid v1 request body for mlp_classifier."""
    return read_archive(store / "mlp_classifier.mar").example()


@pytest.mark.timeout(300)
def test_a_version_registered_by_name_on_the_remote_torchserve_is_served(
        http: httpx.Client, body: dict[str, Any], torchserve: ModelServerSettings) -> None:
    assert http.get("/v1/models/mlp_classifier").json()["versions"] == ["1.0"]
    refused = http.post("/admin/v1/models", headers=ADMIN, json={"archive": "http://evil.example/x.mar"})
    assert (refused.status_code, refused.json()["error"]) == (
        400, "archive 'http://evil.example/x.mar' is a URL; only archives already in the model store can be "
             "registered, by file name")
    registered = http.post("/admin/v1/models", headers=ADMIN, json={"archive": "mlp_classifier-1.1.mar"})
    assert (registered.status_code, registered.json()) == (
        201, {"name": "mlp_classifier", "version": "1.1", "workers": 1})
    answer = http.post("/v1/models/mlp_classifier/predict", json=body, headers={"X-Model-Version": "1.1"})
    assert (answer.status_code, answer.headers["x-model-version"]) == (200, "1.1"), answer.text
    assert http.get("/v2/models/mlp_classifier/versions/1.1/ready").json() == {"name": "mlp_classifier",
                                                                              "ready": True}
    scaled = http.put("/admin/v1/models/mlp_classifier/versions/1.1/workers", headers=ADMIN, json={"workers": 2})
    assert scaled.status_code == 200, scaled.text
    assert http.get("/v1/models/mlp_classifier").json()["versions"] == ["1.0", "1.1"]
    unregister_again(torchserve)


def unregister_again(torchserve: ModelServerSettings) -> None:
    """Leave the module's TorchServe as it started (1.1 unregistered), so the next test starts from 1.0 alone."""
    headers = read_keys(torchserve.ts_home).management_headers()
    answer = httpx.delete(f"{torchserve.management_url}/models/mlp_classifier/1.1", headers=headers, timeout=60)
    assert answer.status_code == 200, answer.text


@pytest.mark.timeout(300)
@pytest.mark.parametrize("management", [False])
def test_without_a_management_url_registration_is_a_503_and_predictions_carry_the_key(
        http: httpx.Client, body: dict[str, Any]) -> None:
    refused = http.post("/admin/v1/models", headers=ADMIN, json={"archive": "mlp_classifier-1.1.mar"})
    assert error_of(refused) == (503, (
        "this gateway reaches no management API: set GATEWAY_TORCHSERVE_MANAGEMENT_URL and "
        "GATEWAY_TORCHSERVE_KEY_FILE, or change versions with the Deployments (docs/deploy.md)"))
    answer = http.post("/v1/models/mlp_classifier/predict", json=body)  # TorchServe checks the inference key
    assert (answer.status_code, answer.headers["x-model-version"]) == (200, "1.0"), answer.text
    assert http.get("/readyz").json() == {"status": "ready", "models": {"mlp_classifier": True}}
