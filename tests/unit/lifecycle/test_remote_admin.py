"""The admin API against a TorchServe in another container: the whole gateway, in-process, with a scripted
management API that checks TorchServe's management key. Registration is by archive name from the store (never a
URL), the keys come from TorchServe's key file and are read again when TorchServe has new ones, predictions carry
the inference key, and without a management URL the actions that need one answer 503, saying what to set."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from serving.gateway.app import create_app
from serving.gateway.settings import GatewaySettings
from serving.modelserver import ModelServerSettings
from tests.error_bodies import error_of
from tests.unit.gateway.scripted_servers import Server, serve
from tests.unit.lifecycle.admin_app import ADMIN_KEY
from tests.unit.lifecycle.grpc_calls import ANSWER
from tests.unit.lifecycle.test_version_upstreams import write_store

pytestmark = pytest.mark.anyio
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
NO_MANAGEMENT = ("this gateway reaches no management API: set GATEWAY_TORCHSERVE_MANAGEMENT_URL and "
                 "GATEWAY_TORCHSERVE_KEY_FILE, or change versions with the Deployments (docs/deploy.md)")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def answer(status: int, body: bytes) -> bytes:
    reason = b"OK" if status == 200 else b"Bad Request"
    return b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
        status, reason, len(body), body)


class TokenChecking:
    """A TorchServe API that answers only requests with `Bearer <key>`, as TorchServe 0.12 does (400 and its
    InvalidKeyException otherwise)."""

    def __init__(self, key: str, body: bytes) -> None:
        self.key, self.body = key, body

    async def reply(self, head: bytes, number: int) -> bytes:
        if f"\r\nAuthorization: Bearer {self.key}\r\n".encode() not in head:
            return answer(400, b'{"code": 400, "type": "InvalidKeyException", "message": "Token Authorization '
                               b'failed. Token either incorrect, expired, or not provided correctly"}')
        return answer(200, self.body)


def write_keys(path: Path, inference: str, management: str) -> None:
    path.write_text(json.dumps({"inference": {"key": inference}, "management": {"key": management},
                                "API": {"key": "unused-api-key"}}))


@dataclass
class Remote:
    http: httpx.AsyncClient
    inference: Server
    management: Server
    management_api: TokenChecking
    key_file: Path


@asynccontextmanager
async def remote(tmp_path: Path, management: bool = True) -> AsyncIterator[Remote]:
    store = write_store(tmp_path)
    key_file = tmp_path / "key_file.json"
    write_keys(key_file, "inference-1", "management-1")
    inference_api = TokenChecking("inference-1", ANSWER)
    management_api = TokenChecking("management-1", b'{"status": "Model \\"m\\" Version: 1.1 registered"}')
    async with serve(inference_api.reply) as inference, serve(management_api.reply) as manager:
        extra = {"gateway_torchserve_management_url": f"http://127.0.0.1:{manager.origin.port}"} if management else {}
        settings = GatewaySettings(_env_file=None, gateway_model_store=store,  # type: ignore[call-arg]
                                   gateway_torchserve_url=f"http://127.0.0.1:{inference.origin.port}",
                                   gateway_torchserve_key_file=key_file, gateway_admin_keys=ADMIN_KEY, **extra)
        # The model server loads m.mar at start (its TS_MODELS, which the gateway's says too): 1.1 waits in the store.
        app = create_app(settings, ModelServerSettings(ts_model_store=store, ts_home=tmp_path / "home",
                                                       ts_models="m.mar"))
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://gw") as http:
            yield Remote(http, inference, manager, management_api, key_file)


def heads(server: Server) -> list[str]:
    return [request.split(b"\r\n")[0].decode() for request in server.requests]


async def test_registration_by_name_reaches_the_remote_management_api_with_its_key(tmp_path: Path) -> None:
    async with remote(tmp_path) as gw:
        registered = await gw.http.post("/admin/v1/models", headers=ADMIN, json={"archive": "m-1.1.mar"})
        assert (registered.status_code, registered.json()) == (201, {"name": "m", "version": "1.1", "workers": 1})
        served = await gw.http.post("/v1/models/m/predict", json={"features": [[0.5, 1.5]]},
                                    headers={"X-Model-Version": "1.1"})
        assert (served.status_code, served.headers["x-model-version"]) == (200, "1.1")
    assert heads(gw.management) == ["POST /models?url=m-1.1.mar&initial_workers=1&synchronous=true HTTP/1.1"]
    assert b"\r\nAuthorization: Bearer management-1\r\n" in gw.management.requests[0]
    assert heads(gw.inference) == ["POST /predictions/m/1.1 HTTP/1.1"]
    assert b"\r\nAuthorization: Bearer inference-1\r\n" in gw.inference.requests[0]


async def test_new_keys_of_a_restarted_torchserve_are_read_again(tmp_path: Path) -> None:
    async with remote(tmp_path) as gw:
        workers = "/admin/v1/models/m/versions/1.0/workers"
        assert (await gw.http.put(workers, headers=ADMIN, json={"workers": 1})).status_code == 200
        write_keys(gw.key_file, "inference-2", "management-2")  # TorchServe restarted: new keys in its file
        gw.management_api.key = "management-2"
        scaled = await gw.http.put(workers, headers=ADMIN, json={"workers": 2})
        assert scaled.status_code == 200, scaled.text
    assert heads(gw.management) == ["PUT /models/m/1.0?min_worker=1&max_worker=1&synchronous=true HTTP/1.1",
                                    *["PUT /models/m/1.0?min_worker=2&max_worker=2&synchronous=true HTTP/1.1"] * 2]
    keys = [b"Bearer management-1" in request for request in gw.management.requests]
    assert keys == [True, True, False]  # the stale key is refused once,
    assert b"Bearer management-2" in gw.management.requests[2]  # then the call is sent again with the file's new key


@pytest.mark.parametrize("archive", ["http://evil.example/m.mar", "../m-1.1.mar", str(Path("/tmp/m-1.1.mar"))])
async def test_a_url_or_a_path_never_reaches_the_remote_management_api(tmp_path: Path, archive: str) -> None:
    async with remote(tmp_path) as gw:
        refused = await gw.http.post("/admin/v1/models", headers=ADMIN, json={"archive": archive})
        assert refused.status_code == 400
        assert refused.json()["error"].startswith(f"archive {archive!r} is ")
    assert gw.management.requests == []


async def test_without_a_management_url_the_actions_that_need_one_are_503_with_what_to_set(tmp_path: Path) -> None:
    async with remote(tmp_path, management=False) as gw:
        refused = await gw.http.post("/admin/v1/models", headers=ADMIN, json={"archive": "m-1.1.mar"})
        assert error_of(refused) == (503, NO_MANAGEMENT)
        # the policy is the gateway's own: it changes without TorchServe's management API
        policy = await gw.http.put("/admin/v1/models/m/policy", headers=ADMIN, json={"default": "1.0"})
        assert policy.status_code == 200, policy.text


def test_a_management_url_needs_the_key_file_and_a_remote_torchserve() -> None:
    with pytest.raises(ValidationError, match="GATEWAY_TORCHSERVE_MANAGEMENT_URL needs GATEWAY_TORCHSERVE_KEY_FILE"):
        GatewaySettings(_env_file=None, gateway_torchserve_url="http://ts:8080",  # type: ignore[call-arg]
                        gateway_torchserve_management_url="http://ts:8081")
    with pytest.raises(ValidationError, match="GATEWAY_TORCHSERVE_MANAGEMENT_URL goes with GATEWAY_TORCHSERVE_URL"):
        GatewaySettings(_env_file=None, gateway_torchserve_management_url="http://ts:8081",  # type: ignore[call-arg]
                        gateway_torchserve_key_file="/keys/key_file.json")
    with pytest.raises(ValidationError, match="GATEWAY_TORCHSERVE_MANAGEMENT_URL must be an http\\(s\\) URL"):
        GatewaySettings(_env_file=None, gateway_torchserve_url="http://ts:8080",  # type: ignore[call-arg]
                        gateway_torchserve_management_url="ts:8081", gateway_torchserve_key_file="/k.json")
