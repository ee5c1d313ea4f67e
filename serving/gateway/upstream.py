"""The gateway's one client for TorchServe: pooled keep-alive connections, the inference token kept
inside, and TorchServe's answers turned into the gateway's domain errors."""

import json
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from serving.gateway.errors import (
    InvalidInput,
    ModelNotReady,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from serving.modelserver.keys import NO_KEYS, TokenKeys, read_keys


@dataclass(frozen=True)
class UpstreamResponse:
    """A successful prediction: TorchServe's body and content type, and how long it took."""

    body: bytes
    content_type: str
    seconds: float


class TorchServeClient:
    """Predictions and readiness from TorchServe's inference and management APIs.

    aiohttp rather than httpx: measured here, one httpx client topped out near 500 requests/s against
    TorchServe at 16 concurrent requests while aiohttp reached TorchServe's own ~3000 (docs/benchmarks.md)."""

    def __init__(self, inference_url: str, management_url: str | None, ts_home: Path | None, timeout_s: float,
                 max_connections: int = 256) -> None:
        """`management_url` and `ts_home` None: a TorchServe in another pod, reached without a token, whose
        readiness is its `/ping` (every model has its minimum of healthy workers)."""
        self._inference_url = inference_url.rstrip("/")
        self._management_url = management_url.rstrip("/") if management_url else None
        self._ts_home = ts_home
        self._keys: TokenKeys | None = None
        # Connecting to a loopback TorchServe that is down fails at once; the short connect timeout bounds the
        # case where the address does not answer at all, so clients get 503 quickly either way.
        self._timeout = aiohttp.ClientTimeout(total=timeout_s, sock_connect=0.5)
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=max_connections, keepalive_timeout=30),
            timeout=self._timeout, auto_decompress=False, skip_auto_headers=("User-Agent",))

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._session.close()

    def _current_keys(self, refresh: bool = False) -> TokenKeys:
        if self._ts_home is None:
            return NO_KEYS
        if self._keys is None or refresh:
            try:
                self._keys = read_keys(self._ts_home)
            except (OSError, ValueError, KeyError):
                raise UpstreamUnavailable("the model server is not running (no key file)") from None
        return self._keys

    async def predict(self, model: str, body: bytes, content_type: str, accept: str | None,
                      request_id: str | None) -> UpstreamResponse:
        """POST /predictions/{model}; a TorchServe restart (new keys) is retried once with fresh keys."""
        headers = {"Content-Type": content_type}
        if accept:
            headers["Accept"] = accept
        if request_id:
            headers["X-Request-ID"] = request_id
        url = f"{self._inference_url}/predictions/{model}"
        started = time.perf_counter()
        for attempt in (0, 1):
            auth = self._current_keys(refresh=attempt == 1).inference_headers()
            try:
                async with self._session.post(url, data=body, headers={**headers, **auth}) as response:
                    status, payload = response.status, await response.read()
                    kind = response.headers.get("Content-Type", "application/json")
            except TimeoutError:
                raise UpstreamTimeout(f"model {model!r} did not answer in time") from None
            except aiohttp.ClientError:
                raise UpstreamUnavailable("the model server is unavailable") from None
            if not (status == 400 and _invalid_key(payload)):
                break
        return result_of(model, status, payload, kind, time.perf_counter() - started)

    async def ready(self, model: str) -> bool:
        """Whether the model has at least one READY worker."""
        timeout = aiohttp.ClientTimeout(total=2.0, sock_connect=0.5)
        if self._management_url is None:
            return await self._ping(timeout)
        url = f"{self._management_url}/models/{model}"
        try:
            for attempt in (0, 1):
                headers = self._current_keys(refresh=attempt == 1).management_headers()
                async with self._session.get(url, headers=headers, timeout=timeout) as response:
                    status, payload = response.status, await response.read()
                if not (status == 400 and _invalid_key(payload)):
                    break
        except (TimeoutError, aiohttp.ClientError, UpstreamUnavailable):
            return False
        if status != 200:
            return False
        workers = json.loads(payload)[0].get("workers", [])
        return any(worker.get("status") == "READY" for worker in workers)

    async def _ping(self, timeout: aiohttp.ClientTimeout) -> bool:
        # TorchServe answers 200 only while every registered model has its minimum of healthy workers.
        try:
            async with self._session.get(f"{self._inference_url}/ping", timeout=timeout) as response:
                return response.status == 200
        except (TimeoutError, aiohttp.ClientError):
            return False


def _invalid_key(payload: bytes) -> bool:
    return b"InvalidKeyException" in payload


def result_of(model: str, status: int, payload: bytes, content_type: str, seconds: float) -> UpstreamResponse:
    """TorchServe's answer to one request: the response, or the domain error its status maps to."""
    if status == 200:
        return UpstreamResponse(payload, content_type, seconds)
    message = _message(status, payload)
    if 400 <= status < 500 and status != 404:
        raise InvalidInput(message, status)  # the handler's own verdict on the request, passed on as is
    if status == 404:
        raise ModelNotReady(f"model {model!r} is not loaded in the model server")
    if status == 503:
        raise ModelNotReady(f"model {model!r} cannot take requests now: {message}")
    if status == 507:
        raise ModelNotReady(f"model {model!r} is out of resources: {message}")
    raise UpstreamError(f"model {model!r} failed: {message}")


def _message(status: int, payload: bytes) -> str:
    try:
        body = json.loads(payload)
    except ValueError:
        return payload[:300].decode("utf-8", "replace") or f"status {status}"
    if isinstance(body, dict):
        return str(body.get("error") or body.get("message") or body)[:500]
    return str(body)[:300]
