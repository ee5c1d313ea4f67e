"""The template every handler follows: decode → parse → predict (one forward pass per batch) → encode.

The model file is loaded by the runtime signature.json names (handlers/runtimes.py: TorchScript, AOTInductor
or ONNX Runtime) onto the device TorchServe assigns; this class adds the signature, per-request errors, a
warm-up and the batch bookkeeping, so a kind overrides only `parse` and `predict`. One bad request in a batch
fails alone with a 4xx; nothing a client sends can kill the worker.

A kind that explains overrides `explanation` and differentiates `differentiable()`: the served module where its
runtime has gradients (TorchScript), else the archive's explanation program (torch.export's program, beside the
ONNX Runtime or AOTInductor file that predicts)."""

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from ts.metrics.metric_type_enum import MetricTypes
from ts.torch_handler.base_handler import BaseHandler

from handlers import envelope, runtimes, worker_logs
from handlers.errors import REASONS, InvalidInput
from handlers.wire import Request, Response, decode_row, error_body

log = logging.getLogger(__name__)


class SignatureHandler(BaseHandler):
    """Shared work of every curriculum handler; subclasses implement `parse` and `predict`."""

    signature: dict[str, Any]
    max_batch: int

    def initialize(self, context: Any) -> None:
        """Load the model (BaseHandler), read signature.json, then warm up at batch 1 and the largest batch."""
        worker_logs.quiet_per_call_lines()
        threads = ((getattr(context, "model_yaml_config", None) or {}).get("handler") or {}).get("torch_threads")
        if threads:
            # Torch's default is one intra-op thread per core, each spinning at a barrier; beside TorchServe's
            # frontend, the gateway and other workers on a small machine, every forward pass then waits for a
            # descheduled thread (docs/benchmarks.md, the "one torch thread per worker" row, has the figures).
            torch.set_num_threads(int(threads))
        model_dir = Path(context.system_properties["model_dir"])
        self.signature = json.loads((model_dir / "signature.json").read_text(encoding="utf-8"))
        self.runtime = str(self.signature.get("runtime", runtimes.DEFAULT_RUNTIME))
        self._load(context, model_dir)
        self.max_batch = max(1, int(context.system_properties.get("batch_size") or 1))
        self.setup()
        self.warm_up()

    def _load(self, context: Any, model_dir: Path) -> None:
        """What BaseHandler.initialize does for this project's models, on any runtime: the device TorchServe
        assigned (a GPU when it gave one), then the archive's serialized file through the runtime's loader.
        (BaseHandler itself loads only TorchScript, eager pickles and its own ONNX session.)"""
        self.model_yaml_config = getattr(context, "model_yaml_config", None) or {}
        self.manifest = context.manifest
        gpu_id = context.system_properties.get("gpu_id")
        use_gpu = torch.cuda.is_available() and gpu_id is not None
        self.map_location = "cuda" if use_gpu else "cpu"
        self.device = torch.device(f"cuda:{gpu_id}" if use_gpu else "cpu")
        self.model_pt_path = str(model_dir / self.manifest["model"]["serializedFile"])
        self.model = runtimes.load(self.runtime, Path(self.model_pt_path), self.device)
        self.explainer, self.program_path = self._explainer(model_dir)
        self.initialized = True

    def _explainer(self, model_dir: Path) -> tuple[Callable[..., Any] | None, Path | None]:
        """What explanations differentiate: the served module where its runtime has gradients; else the
        explanation program signature.json names, checked now (a missing file or an unknown format stops the
        worker) but loaded by the first explanation (`differentiable`): loading it imports torch.export's
        deserializer, about 2 s and 150 MiB per worker that only explained models should pay. Else nothing."""
        if self.runtime in runtimes.GRADIENT_RUNTIMES:
            return self.model, None
        entry = self.signature.get("explanation")
        if not entry:
            return None, None
        if entry.get("format") != runtimes.PROGRAM_FORMAT:
            raise ValueError(f"explanation program of format {entry.get('format')!r}; this handler loads "
                             f"{runtimes.PROGRAM_FORMAT!r}")
        program = model_dir / entry["file"]
        if not program.is_file():
            raise FileNotFoundError(f"signature.json names the explanation program {entry['file']}, which the "
                                    "archive lacks")
        return None, program

    def differentiable(self) -> Callable[..., Any]:
        """The module an explanation differentiates, the explanation program loaded on first use; InvalidInput
        (409) where the archive has neither."""
        if self.explainer is None and self.program_path is not None:
            self.explainer = runtimes.load_program(self.program_path, self.device)
        if self.explainer is None:
            raise InvalidInput(no_gradients(self.signature.get("name", "this model"), self.runtime), 409)
        return self.explainer

    def setup(self) -> None:
        """Kind-specific state read from the signature (vocabulary, sizes …)."""

    def warm_up(self) -> None:
        """Run the module once at batch 1 and once at the largest batch: TorchScript's profiling executor
        optimises on the first calls and ONNX Runtime allocates its arenas on them; the first clients would
        otherwise wait for it."""
        with torch.inference_mode():
            for batch in sorted({1, self.max_batch}):
                self.model(*self.example_inputs(batch))

    def example_inputs(self, batch: int) -> tuple[torch.Tensor, ...]:
        """Zeros shaped like the signature's inputs (free dimensions other than the batch set to 1)."""
        tensors = []
        for spec in self.served_inputs():
            shape = [batch if i == 0 else (1 if d == -1 else d) for i, d in enumerate(spec["shape"])]
            tensors.append(torch.zeros(shape, dtype=getattr(torch, spec["dtype"]), device=self.device))
        return tuple(tensors)

    def served_inputs(self) -> list[dict[str, Any]]:
        """The inputs the served file takes: the signature's, or the narrower ones its runtime lists (a
        language model exported as one step takes one token per row)."""
        entry = (self.signature.get("runtimes") or {}).get(self.runtime) or {}
        inputs: list[dict[str, Any]] = entry.get("inputs") or self.signature["inputs"]
        return inputs

    def handle(self, data: list[Any], context: Any) -> list[bytes]:
        """Answer every request of the batch: the list returned always has the batch's length. A row may be a
        batch envelope from the gateway (handlers/envelope.py): its requests join the batch and their answers
        go back packed in one body."""
        self.context = context
        if getattr(context, "input_names", None) and data and all(_is_v2_tensor(row) for row in data):
            return self._handle_kserve_v2(data, context)
        requests: list[tuple[int, Any, dict[str, str]]] = []  # (row index, request row, its headers)
        packed: set[int] = set()  # rows that are envelopes
        grouped: list[list[tuple[int, Response]]] = [[] for _ in data]  # each row's answers, in order
        for i, row in enumerate(data):
            headers = self._headers(context, i)
            if not headers.get("content-type", "").startswith(envelope.CONTENT_TYPE):
                requests.append((i, row, headers))
                continue
            try:
                items = envelope.unpack_requests(_row_bytes(row))
            except envelope.EnvelopeError as exc:
                grouped[i].append((400, error_body(str(exc))))
                continue
            packed.add(i)
            requests += [(i, {"body": body}, item_headers) for item_headers, body in items]
        self._record_batch_size(context, len(requests))
        for (i, _, _), answer in zip(requests, self._answer_all([(r, h) for _, r, h in requests]), strict=True):
            grouped[i].append(answer)
        out = []
        for i, answers in enumerate(grouped):
            encoded = [self._encoded(status, response) for status, response in answers]
            if i in packed:
                context.set_response_content_type(i, envelope.CONTENT_TYPE)
                out.append(envelope.pack_responses([(st, r.content_type, body) for st, r, body in encoded]))
                continue
            status, response, body = encoded[0]
            if status != 200:
                context.set_response_status(status, REASONS.get(status, "Bad Request"), i)
            context.set_response_content_type(i, response.content_type)
            out.append(body)
        return out

    def _handle_kserve_v2(self, tensors: list[dict[str, Any]], context: Any) -> list[Any]:
        """Behind TorchServe's `kservev2` envelope (KServe's TorchServe runtime): the rows are one request's v2
        input tensors. They become the request's JSON fields by name ({"features": rows}, {"image": base64} …),
        and the answer goes back as the one output the envelope builds from it (a BYTES element holding the
        handler's JSON object). The gateway's /v2 routes give the typed tensor contract instead."""
        self._record_batch_size(context, 1)
        fields = {str(tensor["name"]): tensor["data"] for tensor in tensors}
        ((status, response),) = self._answer([({"body": fields}, {"content-type": "application/json"})])
        if status != 200:
            context.set_response_status(status, REASONS.get(status, "Bad Request"), 0)
        if isinstance(response.body, bytes):  # binary answers (PNG) only on request; JSON is the default
            return [{"error": "binary answers are not served through the kservev2 envelope"}]
        return [response.body]

    def _answer_all(self, requests: list[tuple[Any, dict[str, str]]]) -> list[tuple[int, Response]]:
        """Predictions and explanations of one batch: TorchServe's `/explanations/{model}` marks each of its
        requests with the header `explain: True`, and a batch may hold both kinds."""
        asked = [i for i, (_, headers) in enumerate(requests) if headers.get("explain") == "True"]
        if not asked:
            return self._answer(requests)
        answers = dict(zip(asked, (self._explain_one(*requests[i]) for i in asked), strict=True))
        plain = [i for i in range(len(requests)) if i not in answers]
        answers.update(zip(plain, self._answer([requests[i] for i in plain]), strict=True))
        return [answers[i] for i in range(len(requests))]

    def _explain_one(self, row: Any, headers: dict[str, str]) -> tuple[int, Response]:
        """One explanation (each is its own many-step integral, so explanations are not batched together)."""
        try:
            return 200, self.explanation(decode_row(row, headers))
        except InvalidInput as exc:
            return exc.status, error_body(exc.message)
        except Exception:
            log.exception("explanation failed")
            return 500, error_body("explanation failed; see the model server log")

    def _answer(self, requests: list[tuple[Any, dict[str, str]]]) -> list[tuple[int, Response]]:
        """(status, response) for each request: parsed one by one, predicted together."""
        answers: list[tuple[int, Response] | None] = [None] * len(requests)
        parsed: list[tuple[int, Any]] = []
        for i, (row, headers) in enumerate(requests):
            try:
                parsed.append((i, self.parse(decode_row(row, headers))))
            except InvalidInput as exc:
                answers[i] = (exc.status, error_body(exc.message))
            except Exception:
                log.exception("parse failed")
                answers[i] = (500, error_body("could not read the request; see the model server log"))
        if parsed:
            try:
                with torch.inference_mode():
                    results = self.predict([item for _, item in parsed])
                for (i, _), result in zip(parsed, results, strict=True):
                    answers[i] = (200, result)
            except InvalidInput as exc:
                for i, _ in parsed:
                    answers[i] = (exc.status, error_body(exc.message))
            except Exception:  # a bug or an exhausted device must fail these requests, not the worker
                log.exception("prediction failed")
                for i, _ in parsed:
                    answers[i] = (500, error_body("prediction failed; see the model server log"))
        return [answer for answer in answers if answer is not None]

    @staticmethod
    def _encoded(status: int, response: Response) -> tuple[int, Response, bytes]:
        try:
            return status, response, response.encode()
        except ValueError:
            failed = error_body("the model produced a value JSON cannot carry (NaN or infinity)")
            return 500, failed, failed.encode()

    def parse(self, request: Request) -> Any:
        """Validate one request into the item `predict` consumes; raise InvalidInput on bad input."""
        raise NotImplementedError

    def predict(self, items: list[Any]) -> list[Response]:
        """Answer the valid items of a batch, in order, ideally with one forward pass."""
        raise NotImplementedError

    def explanation(self, request: Request) -> Response:
        """Explain one request's prediction (handlers/explaining.py); kinds without explanations refuse. (Not
        `explain`: TorchServe's BaseHandler uses that name for a flag.)"""
        raise InvalidInput(f"{self.signature['kind']} models have no explanations", 404)

    @staticmethod
    def _record_batch_size(context: Any, size: int) -> None:
        """The BatchSize histogram (per model): TorchServe exports no batch metric of its own, and the dashboard
        shows how full the batches are. A metrics failure must never fail the batch."""
        metrics = getattr(context, "metrics", None)
        if metrics is None:
            return
        try:
            metrics.add_metric("BatchSize", size, unit="count", metric_type=MetricTypes.HISTOGRAM)
        except Exception:
            log.exception("could not record BatchSize")

    @staticmethod
    def _headers(context: Any, index: int) -> dict[str, str]:
        try:
            headers = context.get_all_request_header(index) or {}
        except (AttributeError, IndexError, KeyError):
            headers = {}
        return {str(k).lower(): v for k, v in headers.items() if isinstance(v, str)}



def _is_v2_tensor(row: Any) -> bool:
    return isinstance(row, dict) and {"name", "datatype", "data"} <= row.keys()


def _row_bytes(row: Any) -> bytes:
    body = row.get("body", row.get("data")) if isinstance(row, dict) else None
    if not isinstance(body, (bytes, bytearray)):
        raise envelope.EnvelopeError("a batch envelope must arrive as raw bytes")
    return bytes(body)


def labelled(probabilities: torch.Tensor, labels: list[str], many: bool) -> Response:
    """A classifier's answer: the most probable label and every probability, in the signature's label order."""
    names = [labels[i] for i in probabilities.argmax(dim=1).tolist()]
    rows = probabilities.tolist()
    return Response({"label": names if many else names[0], "probabilities": rows if many else rows[0]})


def no_gradients(model: str, runtime: str) -> str:
    """Why a model served on `runtime` has no explanations, and what serves them."""
    return (f"model {model!r} is served on {runtime}, which computes no gradients, and its archive carries no "
            f"explanation program; re-export it (python -m training train --missing) and archive it again, or "
            f"archive TorchScript (python -m serving.archive --runtime torchscript)")
