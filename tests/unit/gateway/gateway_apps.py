"""The whole gateway app in-process over a store of small archives, driven over ASGI (no server starts): what
the tests of its failure answers call. `FakeTorchServe` stands in for the TorchServe client's predictions."""

from __future__ import annotations

import json
import zipfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, NoReturn

import grpc
import httpx
import pytest

from serving.gateway.app import create_app
from serving.gateway.core.dataplane import DataPlane
from serving.gateway.core.upstream import TorchServeClient, UpstreamResponse
from serving.gateway.frontends.grpc_v2 import inference_pb2 as pb
from serving.gateway.frontends.grpc_v2.calls import Call, Guard
from serving.gateway.frontends.grpc_v2.service import SERVICE, InferenceService
from serving.gateway.settings import GatewaySettings
from serving.modelserver import ModelServerSettings
from tests.error_bodies import error_of

__all__ = ["ADMIN_KEY", "FakeTorchServe", "error_of", "features_message", "gateway", "grpc_infer", "running",
           "write_store"]
ADMIN_KEY = "admin-key-0123456789abcdef"
# One model of each kind whose v2 answers these tests shape; signatures as small as the contracts need.
ROWS = {"inputs": [{"name": "features", "shape": [-1, 2]}], "example": {"features": [[1.0, 2.0]]}}
SIGNATURES: dict[str, dict[str, Any]] = {
    "reg": {"kind": "regression", **ROWS},
    "wine": {"kind": "tabular-classification", **ROWS, "labels": ["a", "b"]},
    "poet": {"kind": "text-generation", "max_new_tokens": 8, "example": {"prompt": "the"}},
}


def write_store(store: Path) -> Path:
    """A model store holding an archive for each of SIGNATURES."""
    store.mkdir(parents=True, exist_ok=True)
    for name, signature in SIGNATURES.items():
        with zipfile.ZipFile(store / f"{name}.mar", "w") as archive:
            archive.writestr("signature.json", json.dumps({"name": name, "version": "1.0", **signature}))
            archive.writestr("metrics.json", "{}")
            archive.writestr("model_card.md", f"# Model card: {name}")
    return store


def gateway(tmp_path: Path, **model_server: Any) -> Any:
    """The app over `tmp_path/store`, TorchServe's home in `tmp_path/home` (no key file unless a test writes
    one) and the admin API on."""
    return create_app(GatewaySettings(_env_file=None, gateway_model_store=write_store(tmp_path / "store"),
                                      gateway_admin_keys=ADMIN_KEY),
                      ModelServerSettings(ts_model_store=tmp_path / "store", ts_home=tmp_path / "home",
                                          **model_server))


class FakeTorchServe:
    """Answers every prediction with `answer(model, body)` (bytes: a 200 JSON body); records the bodies."""

    def __init__(self, answer: Callable[[str, bytes], bytes]) -> None:
        self.answer = answer
        self.bodies: list[bytes] = []

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Replace TorchServeClient.predict (before the app's lifespan binds it into the coalescer)."""

        async def predict(_: TorchServeClient, model: str, body: bytes, content_type: str, accept: str | None,
                          request_id: str | None) -> UpstreamResponse:
            self.bodies.append(body)
            return UpstreamResponse(self.answer(model, body), "application/json", 0.001)

        monkeypatch.setattr(TorchServeClient, "predict", predict)


@asynccontextmanager
async def running(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the app, its lifespan running."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            yield client



class GrpcContext:
    """What the gRPC Guard uses of a call's context: no metadata, no deadline; `abort` records and raises."""

    def __init__(self) -> None:
        self.aborted: tuple[grpc.StatusCode, str] | None = None

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return ()

    def time_remaining(self) -> float | None:
        return None

    def done(self) -> bool:
        return False

    def set_trailing_metadata(self, trailing_metadata: tuple[tuple[str, str], ...]) -> None:
        pass

    async def abort(self, code: grpc.StatusCode, details: str, trailing_metadata: Any = ()) -> NoReturn:
        self.aborted = (code, details)
        raise grpc.aio.AbortError()


async def grpc_infer(plane: DataPlane, message: pb.ModelInferRequest) -> tuple[grpc.StatusCode, str]:
    """ModelInfer through the gateway's gRPC Guard and service, as grpcio would call it: the status it aborts
    with and its details (OK and "" when it answers)."""
    handler = Guard(plane).unary(Call(f"/{SERVICE}/ModelInfer", pb.ModelInferRequest),
                                 InferenceService(plane).model_infer)
    context = GrpcContext()
    try:
        await handler.unary_unary(message.SerializeToString(), context)
    except grpc.aio.AbortError:
        assert context.aborted is not None
        return context.aborted
    return grpc.StatusCode.OK, ""


def features_message(model: str, rows: list[list[float]]) -> pb.ModelInferRequest:
    """A ModelInferRequest of FP32 `features` rows, as tritonclient sends it."""
    tensor = pb.ModelInferRequest.InferInputTensor(name="features", datatype="FP32", shape=[len(rows), len(rows[0])])
    tensor.contents.fp32_contents.extend(v for row in rows for v in row)
    return pb.ModelInferRequest(model_name=model, inputs=[tensor])
