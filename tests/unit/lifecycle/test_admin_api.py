"""The admin API: only its own keys let in; archives only from the model store, by name; every change audited;
policies validated; a version unregistered only once out of the policy and drained."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from serving.gateway.core.lifecycle.control import Lifecycle
from tests.unit.lifecycle.admin_app import ADMIN_KEY, API_KEY, RecordedModelServer, admin_app

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[TestClient, Lifecycle, RecordedModelServer]]:
    app, control, server = admin_app(tmp_path)
    with TestClient(app) as http:
        yield http, control, server


@pytest.mark.parametrize(("headers", "message"), [
    ({}, "missing admin key: send 'Authorization: Bearer <admin key>'"),
    ({"Authorization": "Bearer wrong-key-0123456789abc"}, "invalid admin key"),
    ({"Authorization": f"Bearer {API_KEY}"}, "invalid admin key"),
    ({"Authorization": f"Basic {ADMIN_KEY}"}, "missing admin key: send 'Authorization: Bearer <admin key>'"),
])
def test_the_admin_api_lets_in_only_its_own_keys(setup: tuple[TestClient, Lifecycle, RecordedModelServer],
                                                 headers: dict[str, str], message: str) -> None:
    http, _, server = setup
    for method, path in (("GET", "/admin/v1/models"), ("POST", "/admin/v1/models"),
                         ("DELETE", "/admin/v1/models/m/versions/1.0"), ("POST", "/admin/v1/models/m/promote")):
        answer = http.request(method, path, headers=headers, json={"archive": "m-1.1.mar"})
        assert (answer.status_code, answer.json()) == (401, {"error": message}), (method, path)
        assert answer.headers["www-authenticate"] == "Bearer"
    assert server.calls == []


@pytest.mark.parametrize(("archive", "status", "message"), [
    ("https://evil.example/x.mar", 400, "archive 'https://evil.example/x.mar' is a URL; only archives already in "
                                        "the model store can be registered, by file name"),
    ("file:///etc/x.mar", 400, "archive 'file:///etc/x.mar' is a URL"),
    ("http:%2F%2Fevil.example%2Fx.mar", 400, "is a URL"),
    ("../m.mar", 400, "archive '../m.mar' is not a file name in the model store (e.g. mlp_classifier-1.1.mar)"),
    ("/etc/passwd", 400, "archive '/etc/passwd' is not a file name in the model store"),
    ("sub/m.mar", 400, "archive 'sub/m.mar' is not a file name in the model store"),
    ("m.zip", 400, "archive 'm.zip' is not a file name in the model store"),
    ("outside.mar", 400, "archive 'outside.mar' is outside the model store"),
    ("absent.mar", 404, "archive 'absent.mar' is not in the model store"),
])
def test_registration_takes_only_an_archive_inside_the_store_by_name(
        setup: tuple[TestClient, Lifecycle, RecordedModelServer], tmp_path: Path, archive: str, status: int,
        message: str) -> None:
    http, control, server = setup
    elsewhere = tmp_path.parent / f"{tmp_path.name}-elsewhere.mar"
    elsewhere.write_bytes(b"PK")
    (tmp_path / "outside.mar").symlink_to(elsewhere)
    answer = http.post("/admin/v1/models", headers=ADMIN, json={"archive": archive, "workers": 1})
    assert answer.status_code == status
    assert message in answer.json()["error"]
    assert server.calls == [], "nothing refused ever reaches the model server"
    assert control.catalog.versions("m") == ["1.0"]


def test_registering_a_version_serves_it_without_moving_traffic_and_audits_it(
        setup: tuple[TestClient, Lifecycle, RecordedModelServer], caplog: pytest.LogCaptureFixture) -> None:
    http, control, server = setup
    with caplog.at_level(logging.INFO, logger="serving.gateway.audit"):
        answer = http.post("/admin/v1/models", headers=ADMIN, json={"archive": "m-1.1.mar", "workers": 2})
    assert (answer.status_code, answer.json()) == (201, {"name": "m", "version": "1.1", "workers": 2})
    assert server.calls == [("POST", "/models?url=m-1.1.mar&initial_workers=2&synchronous=true")]
    assert control.catalog.versions("m") == ["1.0", "1.1"]
    assert control.catalog.default_version("m") == "1.0"
    [line] = [r for r in caplog.records if r.name == "serving.gateway.audit"]
    assert line.audit == {"actor": line.audit["actor"], "action": "register", "archive": "m-1.1.mar", "workers": 2,
                          "outcome": "ok"}
    assert line.audit["actor"].startswith("key:")
    assert ADMIN_KEY not in str(line.audit)
    again = http.post("/admin/v1/models", headers=ADMIN, json={"archive": "m-1.1.mar"})
    assert (again.status_code, again.json()) == (409, {"error": "m 1.1 is already served"})


def test_a_refusal_by_the_model_server_is_a_502_and_is_audited(
        setup: tuple[TestClient, Lifecycle, RecordedModelServer], caplog: pytest.LogCaptureFixture) -> None:
    http, control, server = setup
    server.refuse = "Failed to load model"
    with caplog.at_level(logging.INFO, logger="serving.gateway.audit"):
        answer = http.post("/admin/v1/models", headers=ADMIN, json={"archive": "m-1.1.mar"})
    assert (answer.status_code, answer.json()) == (502, {"error": "the model server refused POST /models: "
                                                                  "Failed to load model"})
    assert control.catalog.versions("m") == ["1.0"]
    [line] = [r for r in caplog.records if r.name == "serving.gateway.audit"]
    assert line.audit["outcome"] == "the model server refused POST /models: Failed to load model"


@pytest.mark.parametrize(("body", "message"), [
    ({"archive": "m-1.1.mar", "workers": 0}, "invalid request: workers: Input should be greater than or equal to 1"),
    ({"archive": "m-1.1.mar", "url": "https://x"}, "invalid request: url: Extra inputs are not permitted"),
    ({}, "invalid request: archive: Field required"),
])
def test_a_malformed_registration_is_a_400(setup: tuple[TestClient, Lifecycle, RecordedModelServer],
                                           body: dict[str, object], message: str) -> None:
    http, _, server = setup
    answer = http.post("/admin/v1/models", headers=ADMIN, json=body)
    assert (answer.status_code, answer.json()) == (400, {"error": message})
    assert server.calls == []


def test_workers_are_set_per_version(setup: tuple[TestClient, Lifecycle, RecordedModelServer]) -> None:
    http, _, server = setup
    answer = http.put("/admin/v1/models/m/versions/1.0/workers", headers=ADMIN, json={"workers": 3})
    assert (answer.status_code, answer.json()) == (200, {"name": "m", "version": "1.0", "workers": 3})
    assert server.calls == [("PUT", "/models/m/1.0?min_worker=3&max_worker=3&synchronous=true")]
    missing = http.put("/admin/v1/models/m/versions/9.9/workers", headers=ADMIN, json={"workers": 3})
    assert (missing.status_code, missing.json()) == (404, {"error": "model 'm' has no version '9.9' (served: 1.0)"})


def test_canary_promote_and_rollback_through_the_policy(
        setup: tuple[TestClient, Lifecycle, RecordedModelServer]) -> None:
    http, control, _ = setup
    http.post("/admin/v1/models", headers=ADMIN, json={"archive": "m-1.1.mar"})
    canary = {"default": "1.0", "canary": {"version": "1.1", "percent": 10}}
    answer = http.put("/admin/v1/models/m/policy", headers=ADMIN, json=canary)
    assert (answer.status_code, answer.json()) == (200, {"name": "m", "policy": {
        "default": "1.0", "canary": {"version": "1.1", "percent": 10.0}}})
    bad = http.put("/admin/v1/models/m/policy", headers=ADMIN, json={"default": "1.0", "canary": {"version": "2.0",
                                                                                                 "percent": 10}})
    assert (bad.status_code, bad.json()) == (400, {"error": "m: canary version '2.0' is not served (served: 1.0, 1.1)"})
    assert control.describe_policy("m") == {"default": "1.0", "canary": {"version": "1.1", "percent": 10.0}}
    rolled = http.post("/admin/v1/models/m/rollback", headers=ADMIN)
    assert rolled.json() == {"name": "m", "policy": {"default": "1.0"}}
    http.put("/admin/v1/models/m/policy", headers=ADMIN, json=canary)
    promoted = http.post("/admin/v1/models/m/promote", headers=ADMIN)
    assert promoted.json() == {"name": "m", "policy": {"default": "1.1"}}
    assert control.catalog.default_version("m") == "1.1"
    nothing = http.post("/admin/v1/models/m/promote", headers=ADMIN)
    assert (nothing.status_code, nothing.json()) == (409, {"error": "m has no canary to promote"})


def test_a_version_in_the_policy_is_not_unregistered(setup: tuple[TestClient, Lifecycle, RecordedModelServer]) -> None:
    http, _, server = setup
    http.post("/admin/v1/models", headers=ADMIN, json={"archive": "m-1.1.mar"})
    http.put("/admin/v1/models/m/policy", headers=ADMIN, json={"default": "1.0", "shadow": {"version": "1.1",
                                                                                          "percent": 5}})
    for version in ("1.0", "1.1"):
        answer = http.delete(f"/admin/v1/models/m/versions/{version}", headers=ADMIN)
        assert (answer.status_code, answer.json()) == (409, {
            "error": f"m {version} is in the traffic policy; promote or roll back first"})
    assert [c for c in server.calls if c[0] == "DELETE"] == []


@pytest.mark.anyio
async def test_unregister_waits_for_the_versions_last_request(tmp_path: Path) -> None:
    app, control, server = admin_app(tmp_path)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as http:
        await http.post("/admin/v1/models", headers=ADMIN, json={"archive": "m-1.1.mar"})
        await http.post("/admin/v1/models/m/rollback", headers=ADMIN)
        await http.put("/admin/v1/models/m/policy", headers=ADMIN, json={"default": "1.1"})
        release = asyncio.Event()

        async def in_flight_on_1_0() -> None:
            with control.flights.hold("m", "1.0"):
                await release.wait()

        request = asyncio.create_task(in_flight_on_1_0())
        await asyncio.sleep(0)
        unregister = asyncio.create_task(http.delete("/admin/v1/models/m/versions/1.0", headers=ADMIN))
        await asyncio.sleep(0.1)
        assert not unregister.done()
        assert control.catalog.versions("m") == ["1.1"], "no new request can pick the leaving version"
        assert ("DELETE", "/models/m/1.0") not in server.calls
        release.set()
        await request
        answer = await unregister
    assert (answer.status_code, answer.json()) == (200, {"name": "m", "version": "1.0", "unregistered": True})
    assert server.calls[-2:] == [("PUT", "/models/m/1.1/set-default"), ("DELETE", "/models/m/1.0")]
