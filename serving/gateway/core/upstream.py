"""The gateway's one client for TorchServe: pooled keep-alive connections, the inference token kept
inside, and TorchServe's answers turned into the gateway's domain errors."""

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from serving.gateway.core.errors import (
    InvalidInput,
    ModelNotReady,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
    WorkerDied,
)
from serving.gateway.core.http1 import Answer, Http1Pool, Origin, ProtocolError
from serving.gateway.core.upstream_map import Upstreams
from serving.gateway.observability import tracing
from serving.modelserver.errors import ModelServerError
from serving.modelserver.keys import NO_KEYS, TokenKeys, read_key_file

log = logging.getLogger("serving.gateway")
# What a client is told while TorchServe's key file cannot be read; the file's path and the reason stay in the log.
NO_KEY_FILE = "the model server is not ready: its key file cannot be read (is TorchServe running?); retry shortly"


@dataclass(frozen=True)
class UpstreamResponse:
    """A successful prediction: TorchServe's body and content type, how long it took, the model version
    that answered (set by the lifecycle once it is known) and how many requests the call carried (the coalescer's
    batch; 1 for a call of its own)."""

    body: bytes
    content_type: str
    seconds: float
    version: str = ""
    batch: int = 1


class TorchServeClient:
    """Predictions and readiness from TorchServe's inference and management APIs."""

    def __init__(self, inference_url: str, management_url: str | None, key_file: Path | None, timeout_s: float,
                 max_connections: int = 256, version_urls: Mapping[str, str] | None = None) -> None:
        """`key_file`: TorchServe's key_file.json (None: token authorization is off, no key is sent).
        `management_url` None: no management API (the admin actions that change TorchServe answer 503), and
        readiness is the inference API's `/ping` (every model has its minimum of healthy workers).
        `version_urls`: the `name/version` targets sent to a model server of their own (core/upstream_map.py)."""
        self._inference = Upstreams(Origin.parse(inference_url), version_urls or {})
        self._management = Origin.parse(management_url) if management_url else None
        self._key_file = key_file
        self._keys: TokenKeys | None = None
        self._key_problem: str | None = None  # why the key file could not be read last time (logged once)
        self._timeout_s = timeout_s
        # Connecting to a loopback TorchServe that is down fails at once; the short connect timeout bounds the
        # case where the address does not answer at all, so clients get 503 quickly either way.
        self._pool = Http1Pool(max_connections, connect_timeout_s=0.5)

    def own_servers(self) -> frozenset[str]:
        """The `name/version` targets that a model server of their own answers."""
        return self._inference.targets()

    async def aclose(self) -> None:
        """Close the connection pool."""
        self._pool.close()

    def check_keys(self) -> None:
        """UpstreamUnavailable (503) while the token to call TorchServe with cannot be read; kept keys are kept."""
        self._current_keys()

    def _current_keys(self, refresh: bool = False) -> TokenKeys:
        """The keys, read again when none are held or `refresh`. The file is read at every call while it is
        missing or unreadable, so the gateway recovers as soon as TorchServe writes it."""
        if self._key_file is None:
            return NO_KEYS
        if self._keys is None or refresh:
            try:
                self._keys = read_key_file(self._key_file)
            except ModelServerError as error:
                self._note_key_problem(str(error))
                raise UpstreamUnavailable(NO_KEY_FILE) from None
            self._note_key_problem(None)
        return self._keys

    def _note_key_problem(self, problem: str | None) -> None:
        # One line when the file goes missing (or changes reason) and one when it is back: not one per request.
        if problem != self._key_problem:
            if problem is None:
                log.info("TorchServe's key file is readable again")
            else:
                log.warning("cannot read TorchServe's key file: %s", problem)
        self._key_problem = problem

    async def predict(self, model: str, body: bytes, content_type: str, accept: str | None,
                      request_id: str | None) -> UpstreamResponse:
        """POST /predictions/{model}; a TorchServe restart (new keys) is retried once with fresh keys."""
        headers = {"Content-Type": content_type}
        if accept:
            headers["Accept"] = accept
        if request_id:
            headers["X-Request-ID"] = request_id
        tracing.inject(headers)  # the traced request's traceparent (nothing when tracing is off)
        return await self._post(model, f"/predictions/{model}", headers, body)

    async def explain(self, model: str, body: bytes, request_id: str | None) -> UpstreamResponse:
        """POST /explanations/{model}: TorchServe's explanations API, which runs the handler's explanation path
        (handlers/explaining.py) instead of its prediction. JSON in, JSON out; never coalesced."""
        headers = {"Content-Type": "application/json", **({"X-Request-ID": request_id} if request_id else {})}
        tracing.inject(headers)
        return await self._post(model, f"/explanations/{model}", headers, body)

    async def _post(self, model: str, path: str, headers: dict[str, str], body: bytes) -> UpstreamResponse:
        started = time.perf_counter()
        try:
            answer = await self._with_token(self._inference.origin(model), "POST", path, headers, body,
                                            self._timeout_s, TokenKeys.inference_headers)
        except TimeoutError:
            raise UpstreamTimeout.of(model) from None
        except OSError:
            raise UpstreamUnavailable("the model server is unavailable") from None
        except ProtocolError as error:
            raise UpstreamError(f"model {model!r}: {error}") from None
        kind = answer.headers.get("content-type", "application/json")
        return result_of(model, answer.status, answer.body, kind, time.perf_counter() - started)

    async def ready(self, model: str) -> bool:
        """Whether the model has at least one READY worker."""
        if self._management is None:
            return await self._ping(self._inference.origin(model))
        try:
            answer = await self._with_token(self._management, "GET", f"/models/{model}", {}, b"", 2.0,
                                            TokenKeys.management_headers)
        except (TimeoutError, OSError, ProtocolError, UpstreamUnavailable):
            return False
        if answer.status != 200:
            return False
        workers = json.loads(answer.body)[0].get("workers", [])
        return any(worker.get("status") == "READY" for worker in workers)

    async def manage(self, method: str, path: str, timeout_s: float = 120.0) -> tuple[int, str]:
        """One call to TorchServe's management API with its token (the admin API's only way there): its status
        and message. UpstreamUnavailable when this gateway has no management API (a remote TorchServe without
        GATEWAY_TORCHSERVE_MANAGEMENT_URL)."""
        if self._management is None:
            raise UpstreamUnavailable("this gateway reaches no management API: set GATEWAY_TORCHSERVE_MANAGEMENT_URL "
                                      "and GATEWAY_TORCHSERVE_KEY_FILE, or change versions with the Deployments "
                                      "(docs/deploy.md)")
        try:
            answer = await self._with_token(self._management, method, path, {}, b"", timeout_s,
                                            TokenKeys.management_headers)
        except (TimeoutError, OSError, ProtocolError):
            raise UpstreamUnavailable("the model server's management API is unavailable") from None
        return answer.status, _message(answer.status, answer.body)

    async def _with_token(self, origin: Origin, method: str, path: str, headers: dict[str, str], body: bytes,
                          timeout_s: float, token: Callable[[TokenKeys], dict[str, str]]) -> Answer:
        """One request with TorchServe's token for that API (`token` picks it from the keys); rejected as invalid
        (TorchServe restarted with new keys), it is sent once more with the keys read again."""
        for attempt in (0, 1):
            auth = token(self._current_keys(refresh=attempt == 1))
            async with asyncio.timeout(timeout_s):
                answer = await self._pool.request(origin, method, path, {**headers, **auth}, body)
            if not (answer.status == 400 and _invalid_key(answer.body)):
                break
        return answer

    async def _ping(self, origin: Origin) -> bool:
        # TorchServe answers 200 only while every registered model has its minimum of healthy workers.
        try:
            answer = await self._with_token(origin, "GET", "/ping", {}, b"", 2.0, TokenKeys.inference_headers)
        except (TimeoutError, OSError, ProtocolError, UpstreamUnavailable):
            return False
        return answer.status == 200


def _invalid_key(payload: bytes) -> bool:
    return b"InvalidKeyException" in payload


def result_of(model: str, status: int, payload: bytes, content_type: str, seconds: float,
              batch: int = 1) -> UpstreamResponse:
    """TorchServe's answer to one request (of a call carrying `batch`): the response, or the domain error its
    status maps to."""
    if status == 200:
        return UpstreamResponse(payload, content_type, seconds, batch=batch)
    message = _message(status, payload)
    if status == 507 or (status == 500 and "Worker died" in message):
        # TorchServe's dead worker: 507 for the batch it held, 500 for some answers when every worker died at once.
        # The outage gate holds the model's requests for a budget.
        raise WorkerDied(f"model {model!r} is out of resources: {message}")
    if 400 <= status < 500 and status != 404:
        raise InvalidInput(message, status)  # the handler's own verdict on the request, passed on as is
    if status == 404:
        raise ModelNotReady(f"model {model!r} is not loaded in the model server")
    if status == 503:
        raise ModelNotReady(f"model {model!r} cannot take requests now: {message}")
    raise UpstreamError(f"model {model!r} failed: {message}")


def _message(status: int, payload: bytes) -> str:
    try:
        body = json.loads(payload)
    except ValueError:
        return payload[:300].decode("utf-8", "replace") or f"status {status}"
    if isinstance(body, dict):
        return str(body.get("error") or body.get("message") or body)[:500]
    return str(body)[:300]
