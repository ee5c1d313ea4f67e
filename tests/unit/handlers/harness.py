"""A real TorchServe context and worker around a handler, so the handlers run as TorchServe runs them, without
a server.

A `Worker` holds a handler and its Context; requests reach the handler either as rows written by hand
(`Worker.handle`) or through TorchServe's own decoding (`Worker.send`): the request is framed as the frontend
frames it and read back by the worker's `retrieve_msg` and `Service.retrieve_data_for_inference`, so bodies,
headers and content types are exactly those a served handler sees."""

from __future__ import annotations

import json
import logging
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
import torch
from ts.context import Context, RequestProcessor
from ts.protocol.otf_message_handler import END_OF_LIST, PREDICT_MSG, retrieve_msg
from ts.service import Service

from tests.unit.handlers.tiny import BATCH_SIZE, build, load_module

log = logging.getLogger(__name__)


def make_context(model_dir: Path, batch_size: int | None = BATCH_SIZE) -> Context:
    """The Context TorchServe's worker builds for a model (CPU: gpu=None), before any request."""
    signature = json.loads((model_dir / "signature.json").read_text(encoding="utf-8"))
    name, runtime = signature["name"], signature.get("runtime", "torchscript")
    served = signature.get("runtimes", {}).get(runtime, {}).get("file", "model.pt")
    manifest = {"model": {"serializedFile": served, "modelName": name}}
    return Context(name, str(model_dir), manifest, batch_size, None, "0.12.0", model_yaml_config={})


@dataclass(frozen=True)
class Reply:
    """What TorchServe would send back for one request of a batch."""

    status: int
    phrase: str | None
    content_type: str | None
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def error(self, status: int) -> str:
        """The message of a failed request, after checking its status and that the body is only the error."""
        assert (self.status, self.content_type) == (status, "application/json"), (self.status, self.body)
        body = self.json()
        assert list(body) == ["error"], body
        return str(body["error"])


@dataclass
class Worker:
    """A handler and the one Context TorchServe's worker keeps for it across batches."""

    handler: Any
    context: Context

    def handle(self, rows: list[Any], headers: list[dict[str, Any]] | None = None) -> list[Reply]:
        """Run one batch through `handler.handle` as TorchServe's Service.predict does; read each reply back.

        As Service.predict does, a `handle` that raises, or that returns anything but one entry per request,
        fails every request of the batch with 503 and the body b"error"."""
        self.context.request_ids = {i: f"req-{i}" for i in range(len(rows))}
        self.context.request_processor = [RequestProcessor(h) for h in (headers or [{} for _ in rows])]
        try:
            out = self.handler.handle(rows, self.context)
        except Exception:  # Service.predict's answer to a handler that raises (logged as it logs it)
            log.warning("Invoking custom service failed.", exc_info=True)
            return [Reply(503, "Prediction failed", None, b"error") for _ in rows]
        if not isinstance(out, list) or len(out) != len(rows):
            return [Reply(503, "number of batch response mismatched", None, b"error") for _ in rows]
        replies = []
        for i, body in enumerate(out):
            assert isinstance(body, (bytes, bytearray)), f"reply {i} is {type(body).__name__}, not bytes"
            status, phrase = self.context.get_response_status(i)
            replies.append(Reply(status, phrase, self.context.get_response_content_type(i), bytes(body)))
        return replies

    def send(self, *requests: HttpRequest) -> list[Reply]:
        """Send HTTP requests, as one batch, through TorchServe's own decoding into the handler."""
        rows, headers = torchserve_rows(requests)
        return self.handle(rows, headers)


def start_worker(handler_class: type[Any], model_dir: Path, batch_size: int | None = BATCH_SIZE) -> Worker:
    """A handler initialised as TorchServe initialises it (one instance and one Context per worker)."""
    context = make_context(model_dir, batch_size)
    handler = handler_class()
    handler.initialize(context)
    return Worker(handler, context)


def kind_fixtures(kind: str, handler_class: type[Any]) -> tuple[Any, Any, Any]:
    """The module-scoped fixtures a handler's test module shares: `model_dir` (a tiny model of `kind`, built
    once), `worker` (`handler_class` initialised on it) and `module` (the saved TorchScript module, loaded apart
    from the handler). Assign them to those names so pytest registers them:
    `model_dir, worker, module = harness.kind_fixtures("regression", RegressionHandler)`."""

    @pytest.fixture(scope="module")
    def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
        return build(kind, tmp_path_factory.mktemp("models"))

    @pytest.fixture(scope="module")
    def worker(model_dir: Path) -> Worker:
        return start_worker(handler_class, model_dir)

    @pytest.fixture(scope="module")
    def module(model_dir: Path) -> torch.jit.ScriptModule:
        return load_module(model_dir)

    return model_dir, worker, module


@dataclass(frozen=True)
class HttpRequest:
    """One HTTP request as the frontend forwards it: (name, content type, bytes) parts and the HTTP headers."""

    parts: tuple[tuple[str, str, bytes], ...]
    headers: dict[str, str] = field(default_factory=dict)


def json_request(body: Any, headers: dict[str, str] | None = None) -> HttpRequest:
    """A POST with a JSON body (`body` is serialised unless it already is bytes)."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return raw_request(data, "application/json", headers)


def raw_request(data: bytes, content_type: str = "application/octet-stream",
                headers: dict[str, str] | None = None) -> HttpRequest:
    """A POST whose whole body is `data`; the frontend names it "body" and passes its mime type."""
    return HttpRequest((("body", content_type, data),), {"Content-Type": content_type, **(headers or {})})


def form_request(files: dict[str, tuple[bytes, str]], texts: dict[str, str] | None = None,
                 headers: dict[str, str] | None = None) -> HttpRequest:
    """A multipart/form-data POST: file parts keep their content type, text attributes have none."""
    parts = [(name, content_type, data) for name, (data, content_type) in files.items()]
    parts += [(name, "", value.encode()) for name, value in (texts or {}).items()]
    return HttpRequest(tuple(parts), {"Content-Type": "multipart/form-data; boundary=x", **(headers or {})})


def _blob(data: bytes) -> bytes:
    return struct.pack("!i", len(data)) + data


def frame(requests: Iterable[HttpRequest]) -> bytes:
    """A predict message in TorchServe's OTF framing (what the Java frontend writes to the worker socket)."""
    end = struct.pack("!i", END_OF_LIST)
    msg = bytearray(PREDICT_MSG)
    for i, request in enumerate(requests):
        msg += _blob(f"req-{i}".encode())
        for name, value in request.headers.items():
            msg += _blob(name.encode()) + _blob(value.encode())
        msg += end
        for name, content_type, data in request.parts:
            msg += _blob(name.encode()) + _blob(content_type.encode()) + _blob(data)
        msg += end
    return bytes(msg + end)


class _Socket:
    def __init__(self, data: bytes) -> None:
        self._stream = BytesIO(data)

    def recv(self, size: int) -> bytes:
        return self._stream.read(size)


def torchserve_rows(requests: Iterable[HttpRequest]) -> tuple[list[Any], list[dict[str, Any]]]:
    """The rows and request headers TorchServe's worker hands to `handle` for these requests."""
    command, batch = retrieve_msg(_Socket(frame(requests)))
    assert command == PREDICT_MSG
    processors, rows, _ = Service.retrieve_data_for_inference(batch)
    return rows, [p.get_request_properties() for p in processors]

