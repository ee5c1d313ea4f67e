"""Tiny TorchScript models and a real TorchServe context, so the handlers run as TorchServe runs them, without
a server.

Each builder writes a model directory (`model.pt` + `signature.json` shaped like the exported ones) with weights
fixed by a seed. A `Worker` holds a handler and its Context; requests reach the handler either as rows written
by hand (`Worker.handle`) or through TorchServe's own decoding (`Worker.send`): the request is framed as the
frontend frames it and read back by the worker's `retrieve_msg` and `Service.retrieve_data_for_inference`, so
bodies, headers and content types are exactly those a served handler sees."""

from __future__ import annotations

import json
import logging
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn
from ts.context import Context, RequestProcessor
from ts.protocol.otf_message_handler import END_OF_LIST, PREDICT_MSG, retrieve_msg
from ts.service import Service

from training import exporters, portable
from training.export import torchscript_deprecation_silenced

log = logging.getLogger(__name__)

BATCH_SIZE = 4
DIGITS = [str(d) for d in range(10)]
VOCAB = ["\n", " ", *"abcdefghijklmnopqrstuvwxyz", ".", ",", "!", "?", "'", "[", "]", "{", "}"]
HIDDEN = 8
LATENT = 4
MAX_NEW_TOKENS = 20


class Regressor(nn.Module):
    """features [B, 3] → prediction [B]."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(3, 1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.linear(features).squeeze(-1)


class Classifier(nn.Module):
    """rows [B, n] → class probabilities [B, k] (softmax inside, as the exported classifiers do)."""

    def __init__(self, inputs: int, classes: int) -> None:
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear = nn.Linear(inputs, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.linear(self.flatten(x)), dim=-1)


class CharModel(nn.Module):
    """tokens [B, T] and a batch-first state [B, 1, H] → logits [B, T, V] and the next state, as CharGRU."""

    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, HIDDEN)
        self.rnn = nn.GRU(HIDDEN, HIDDEN, num_layers=1, batch_first=True)
        self.head = nn.Linear(HIDDEN, vocab)

    def forward(self, tokens: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out, h = self.rnn(self.embed(tokens), state.transpose(0, 1).contiguous())
        return self.head(out), h.transpose(0, 1).contiguous()


class Generator(nn.Module):
    """digit [B] and noise [B, 4] → image [B, 1, 8, 8] in [0, 1]."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, LATENT)
        self.linear = nn.Linear(2 * LATENT, 64)

    def forward(self, digit: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        x = torch.cat([self.embed(digit), noise], dim=1)
        return torch.sigmoid(self.linear(x)).view(-1, 1, 8, 8)


def _spec(name: str, dtype: str, shape: list[int]) -> dict[str, Any]:
    return {"name": name, "dtype": dtype, "shape": shape}


def _signature(name: str, kind: str, inputs: list[dict[str, Any]], outputs: list[dict[str, Any]],
               **extra: Any) -> dict[str, Any]:
    return {"name": name, "version": "1.0", "kind": kind, "dataset": "tiny", "inputs": inputs, "outputs": outputs,
            "serving": {"batch_size": BATCH_SIZE, "max_batch_delay_ms": 5}, **extra}


def _regression() -> tuple[nn.Module, dict[str, Any]]:
    return Regressor(), _signature(
        "tiny_regression", "regression", [_spec("features", "float32", [-1, 3])],
        [_spec("prediction", "float32", [-1])], feature_names=["a", "b", "c"])


def _classification() -> tuple[nn.Module, dict[str, Any]]:
    return Classifier(3, 2), _signature(
        "tiny_classifier", "tabular-classification", [_spec("features", "float32", [-1, 3])],
        [_spec("probabilities", "float32", [-1, 2])], labels=["neg", "pos"], feature_names=["a", "b", "c"])


def _image_classification() -> tuple[nn.Module, dict[str, Any]]:
    return Classifier(64, 10), _signature(
        "tiny_digits", "image-classification", [_spec("image", "float32", [-1, 1, 8, 8])],
        [_spec("probabilities", "float32", [-1, 10])], labels=DIGITS)


def _text_generation() -> tuple[nn.Module, dict[str, Any]]:
    vocab = len(VOCAB)
    return CharModel(vocab), _signature(
        "tiny_char_rnn", "text-generation",
        [_spec("tokens", "int64", [-1, -1]), _spec("state", "float32", [-1, 1, HIDDEN])],
        [_spec("logits", "float32", [-1, -1, vocab]), _spec("next_state", "float32", [-1, 1, HIDDEN])],
        vocab=VOCAB, max_new_tokens=MAX_NEW_TOKENS, default_temperature=0.8, default_top_k=0)


def _image_generation() -> tuple[nn.Module, dict[str, Any]]:
    return Generator(), _signature(
        "tiny_gan", "image-generation",
        [_spec("digit", "int64", [-1]), _spec("noise", "float32", [-1, LATENT])],
        [_spec("image", "float32", [-1, 1, 8, 8])], labels=DIGITS, image_size=[8, 8])


def _policy() -> tuple[nn.Module, dict[str, Any]]:
    return nn.Linear(4, 2), _signature(
        "tiny_dqn", "policy", [_spec("observation", "float32", [-1, 4])], [_spec("q_values", "float32", [-1, 2])],
        actions=["push_left", "push_right"], observation_names=["x", "v", "theta", "omega"])


BUILDERS: dict[str, Callable[[], tuple[nn.Module, dict[str, Any]]]] = {
    "regression": _regression,
    "tabular-classification": _classification,
    "image-classification": _image_classification,
    "text-generation": _text_generation,
    "image-generation": _image_generation,
    "policy": _policy,
}


# Weight seeds: 6 gives the language model a greedy continuation that varies ("v?v?z?v?zzx?zneu…" rather
# than one repeated character), so greedy decoding can be told from a decoder that repeats its first choice.
SEEDS = {"text-generation": 6}


def build(kind: str, root: Path, seed: int | None = None, runtime: str = "torchscript",
          **signature_overrides: Any) -> Path:
    """Write `root/<kind>/model.pt` (TorchScript, weights fixed by `seed`) and its signature.json, with
    `signature_overrides` set; the folder. Another `runtime` also writes its file, exported as training
    exports it (the language model as one GRU step), and the signature names it as the archive builder does."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEEDS.get(kind, 0) if seed is None else seed)
        module, signature = BUILDERS[kind]()
    with torchscript_deprecation_silenced():
        scripted = torch.jit.script(module.eval())
    model_dir = root / (kind if runtime == "torchscript" else f"{kind}-{runtime}")
    model_dir.mkdir(parents=True, exist_ok=True)
    scripted.save(str(model_dir / "model.pt"))
    if runtime != "torchscript":
        signature.update(_export(module, signature, runtime, model_dir))
    signature.update(signature_overrides)
    (model_dir / "signature.json").write_text(json.dumps(signature, indent=2), encoding="utf-8")
    return model_dir


def _export(module: nn.Module, signature: dict[str, Any], runtime: str, model_dir: Path) -> dict[str, Any]:
    """Export `module` to `runtime` beside model.pt; the signature fields that say it is the served one."""
    inputs = [dict(spec, shape=[-1, 1]) if spec["name"] == "tokens" else spec for spec in signature["inputs"]]
    example = tuple(torch.zeros([2 if d == -1 else d for d in spec["shape"]], dtype=getattr(torch, spec["dtype"]))
                    for spec in inputs)
    entry = portable.RUNTIMES[runtime]
    exporters.export(runtime, module.eval(), example, inputs, signature["outputs"], model_dir / entry.file)
    return {"runtime": runtime, "platform": entry.platform,
            "runtimes": {runtime: {"file": entry.file, "platform": entry.platform, "inputs": inputs}}}


def load_module(model_dir: Path) -> torch.jit.ScriptModule:
    """The saved TorchScript module, loaded apart from any handler: the reference the answers must match."""
    with torchscript_deprecation_silenced():
        return torch.jit.load(str(model_dir / "model.pt"), map_location="cpu").eval()


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
    `model_dir, worker, module = tiny.kind_fixtures("regression", RegressionHandler)`."""

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

