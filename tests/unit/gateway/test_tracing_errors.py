"""Errors in the span's status: a client's error leaves it unset, a server's error or a bug sets it, on REST and
behind the gateway's gRPC guard."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
import pytest
from opentelemetry.trace import StatusCode

from tests.unit.gateway.traced_gateway import V1_BODY, gateway, grpc_infer

pytestmark = pytest.mark.anyio


async def test_client_errors_leave_the_status_unset_and_server_errors_set_it(tmp_path: Path) -> None:
    async with gateway(tmp_path) as running:
        missing = await running.client.post("/v1/models/nope/predict", json=V1_BODY)
        bad = await running.client.post("/v2/models/wine/infer", json={"inputs": "no"})
        grpc_missing, _ = await grpc_infer(running.plane, model="nope")
        running.torchserve.status = 500
        failed = await running.client.post("/v1/models/wine/predict", json=V1_BODY)
        grpc_failed, _ = await grpc_infer(running.plane)
        spans = running.spans()
    assert [missing.status_code, bad.status_code, failed.status_code] == [404, 400, 502]
    assert [grpc_missing.code, grpc_failed.code] == [grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNAVAILABLE]
    outcomes = [(s.status.status_code, s.status.description, (s.attributes or {}).get("error.type"),
                 (s.attributes or {}).get("gateway.model.name")) for s in spans]
    assert outcomes == [(StatusCode.UNSET, None, None, None),  # no such model: nothing to name
                        (StatusCode.UNSET, None, None, "wine"),  # admitted, then its body refused
                        (StatusCode.UNSET, None, None, None),
                        (StatusCode.ERROR, "502", "502", "wine"),
                        (StatusCode.ERROR, "UNAVAILABLE", "UNAVAILABLE", "wine")]
    assert [(s.attributes or {}).get("http.response.status_code", (s.attributes or {}).get("rpc.grpc.status_code"))
            for s in spans] == [404, 400, 5, 502, 14]


async def test_a_bug_behind_a_grpc_call_is_an_internal_error_span(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("a bug")

    async with gateway(tmp_path) as running:
        monkeypatch.setattr(running.plane, "infer", broken)
        context, _ = await grpc_infer(running.plane)
        (span,) = running.spans()
    assert context.code == grpc.StatusCode.INTERNAL
    assert ((span.attributes or {})["rpc.grpc.status_code"], (span.attributes or {})["error.type"],
            span.status.status_code, span.status.description) == (13, "INTERNAL", StatusCode.ERROR, "INTERNAL")
