"""Versions on model servers of their own (plain Kubernetes' stable and canary Deployments): the whole gateway,
in-process, in front of two scripted TorchServes. Every protocol's version choice (REST v1's header and query,
REST v2's path, gRPC's model_version, and the traffic policy's) reaches the model server of that version."""

from __future__ import annotations

import json
import zipfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from serving.gateway.app import create_app
from serving.gateway.core.catalog import Catalog, ModelEntry
from serving.gateway.core.upstream_map import parse_version_urls
from serving.gateway.frontends.grpc_v2.service import InferenceService
from serving.gateway.observability import GatewayMetrics
from serving.gateway.settings import GatewaySettings
from serving.modelserver import ModelServerSettings
from tests.unit.gateway.lifecycles import plain_lifecycle
from tests.unit.gateway.scripted_servers import Server, serve
from tests.unit.lifecycle.grpc_calls import ANSWER, SIGNATURE, Metadata, infer_message

pytestmark = pytest.mark.anyio
CANARY_POLICY = 'models: {m: {default: "1.0", canary: {version: "1.1", percent: 100}}}\n'
OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(ANSWER), ANSWER)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def write_store(store: Path) -> Path:
    for file_name, version in (("m.mar", "1.0"), ("m-1.1.mar", "1.1")):
        with zipfile.ZipFile(store / file_name, "w") as archive:
            archive.writestr("signature.json", json.dumps({"name": "m", "kind": "tabular-classification",
                                                           "version": version, **SIGNATURE}))
            archive.writestr("metrics.json", "{}")
            archive.writestr("model_card.md", f"# m {version}")
    return store


@dataclass
class Stack:
    http: httpx.AsyncClient
    grpc: InferenceService
    stable: Server
    canary: Server


async def ok(head: bytes, number: int) -> bytes:
    return OK


@asynccontextmanager
async def stack(tmp_path: Path, policy: str) -> AsyncIterator[Stack]:
    store = write_store(tmp_path)
    (tmp_path / "policy.yaml").write_text(policy)
    async with serve(ok) as stable, serve(ok) as canary:
        settings = GatewaySettings(_env_file=None, gateway_model_store=store,  # type: ignore[call-arg]
                                   gateway_torchserve_url=f"http://127.0.0.1:{stable.origin.port}",
                                   gateway_torchserve_version_urls=f"m/1.1=http://127.0.0.1:{canary.origin.port}",
                                   gateway_policy_file=tmp_path / "policy.yaml")
        app = create_app(settings, ModelServerSettings(ts_model_store=store, ts_home=tmp_path / "home"))
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://gw") as http:
            yield Stack(http, InferenceService(app.state.plane), stable, canary)


def paths(server: Server) -> list[str]:
    return [request.split(b" ")[1].decode() for request in server.requests]


async def test_each_protocols_version_reaches_the_model_server_of_that_version(tmp_path: Path) -> None:
    async with stack(tmp_path, "models: {}\n") as gw:
        row = {"features": [[0.5, 1.5]]}
        v2 = {"inputs": [{"name": "features", "datatype": "FP32", "shape": [1, 2], "data": [0.5, 1.5]}]}
        for version in ("1.0", "1.1"):
            by_header = await gw.http.post("/v1/models/m/predict", json=row, headers={"X-Model-Version": version})
            by_query = await gw.http.post(f"/v1/models/m/predict?version={version}", json=row)
            by_path = await gw.http.post(f"/v2/models/m/versions/{version}/infer", json=v2)
            by_grpc = await gw.grpc.model_infer(infer_message("m", version), Metadata())
            for answer in (by_header, by_query, by_path):
                assert answer.status_code == 200, answer.text
            assert [by_header.headers["x-model-version"], by_query.headers["x-model-version"]] == [version] * 2
            assert (by_path.json()["model_version"], by_grpc.model_version) == (version, version)
    assert paths(gw.stable) == ["/predictions/m/1.0"] * 4
    assert paths(gw.canary) == ["/predictions/m/1.1"] * 4


async def test_the_policys_canary_is_answered_by_the_canary_server(tmp_path: Path) -> None:
    async with stack(tmp_path, CANARY_POLICY) as gw:
        answer = await gw.http.post("/v1/models/m/predict", json={"features": [[0.5, 1.5]]})
        assert (answer.status_code, answer.headers["x-model-version"]) == (200, "1.1")
        assert (await gw.grpc.model_infer(infer_message("m"), Metadata())).model_version == "1.1"
        ready = await gw.http.get("/v2/models/m/versions/1.1/ready")
        assert ready.status_code == 200
    assert paths(gw.canary) == ["/predictions/m/1.1", "/predictions/m/1.1", "/ping"]
    assert paths(gw.stable) == []


async def test_a_version_the_store_lacks_stops_the_start_with_its_name(tmp_path: Path) -> None:
    store = write_store(tmp_path)
    settings = GatewaySettings(_env_file=None, gateway_model_store=store,  # type: ignore[call-arg]
                               gateway_torchserve_url="http://model-server:8080",
                               gateway_torchserve_version_urls="m/1.2=http://model-server-canary:8080")
    with pytest.raises(FileNotFoundError, match=f"GATEWAY_TORCHSERVE_VERSION_URLS names m/1.2, which the model "
                                                f"store {store} holds no archive of"):
        create_app(settings, ModelServerSettings(ts_model_store=store, ts_home=tmp_path / "home"))


def test_the_setting_reads_name_version_url_pairs() -> None:
    assert parse_version_urls(" m/1.1=http://canary:8080 , n/2=https://other/x,") == {
        "m/1.1": "http://canary:8080", "n/2": "https://other/x"}
    assert parse_version_urls("") == {}


@pytest.mark.parametrize(("text", "message"), [
    ("m=http://canary:8080", "'m=http://canary:8080' is not name/version=URL"),
    ("m/1.1", "'m/1.1' is not name/version=URL"),
    ("m/../1=http://canary:8080", "is not name/version=URL"),
    ("m/1.1=canary:8080", "m/1.1: 'canary:8080' is not an http\\(s\\) URL with a host"),
    ("m/1.1=http://a:1,m/1.1=http://b:1", "m/1.1 is named twice"),
])
def test_a_malformed_pair_is_refused_by_name(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_version_urls(text)
    with pytest.raises(ValidationError, match=message):
        GatewaySettings(_env_file=None, gateway_torchserve_url="http://model-server:8080",  # type: ignore[call-arg]
                        gateway_torchserve_version_urls=text)


@pytest.mark.parametrize(("settings", "message"), [
    ({"gateway_torchserve_version_urls": "m/1.1=http://canary:8080"},
     "GATEWAY_TORCHSERVE_VERSION_URLS goes with GATEWAY_TORCHSERVE_URL"),
    ({"gateway_torchserve_url": "http://ts:8080", "gateway_torchserve_version_urls": "m/1.1=http://canary:8080",
      "gateway_torchserve_key_file": "/keys/key_file.json"},
     "GATEWAY_TORCHSERVE_VERSION_URLS reaches model servers of their own, without a token"),
])
def test_version_urls_need_a_remote_torchserve_and_no_token(settings: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        GatewaySettings(_env_file=None, **settings)  # type: ignore[arg-type]


def test_a_lone_version_with_a_server_of_its_own_is_still_addressed_by_version() -> None:
    # TorchServe's name alone would mean that server's default version; name/version says which one is meant.
    catalog = Catalog([ModelEntry("m", "regression", "1.0", {}, {}, "")])
    lifecycle = plain_lifecycle(catalog, GatewayMetrics(known_models={"m"}))
    entry = catalog.get("m")
    assert lifecycle.target(entry) == "m"
    lifecycle.own_servers = frozenset({"m/1.0"})
    assert lifecycle.target(entry) == "m/1.0"
