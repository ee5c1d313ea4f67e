"""The gateway's one client for TorchServe: pooled keep-alive connections, the inference token kept
inside, and TorchServe's answers turned into the gateway's domain errors."""

import json
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from serving.gateway.errors import (
    InvalidInput,
    ModelNotReady,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from serving.modelserver.keys import TokenKeys, read_keys


@dataclass(frozen=True)
class UpstreamResponse:
    """A successful prediction: TorchServe's body and content type, and how long it took."""

    body: bytes
    content_type: str
    seconds: float


class TorchServeClient:
    """Predictions and readiness from TorchServe's inference and management APIs."""

    def __init__(self, inference_url: str, management_url: str, ts_home: Path, timeout_s: float,
                 max_connections: int = 256) -> None:
        self._ts_home = ts_home
        self._keys: TokenKeys | None = None
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        # Connecting to a loopback TorchServe that is down fails at once; the short connect timeout bounds the
        # case where the address does not answer at all, so clients get 503 quickly either way.
        timeout = httpx.Timeout(timeout_s, connect=0.5)
        self._inference = httpx.AsyncClient(base_url=inference_url, limits=limits, timeout=timeout)
        self._management = httpx.AsyncClient(base_url=management_url, timeout=httpx.Timeout(2.0, connect=0.5))

    async def aclose(self) -> None:
        """Close the connection pools."""
        await self._inference.aclose()
        await self._management.aclose()

    def _current_keys(self, refresh: bool = False) -> TokenKeys:
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
        started = time.perf_counter()
        for attempt in (0, 1):
            auth = self._current_keys(refresh=attempt == 1).inference_headers()
            try:
                response = await self._inference.post(f"/predictions/{model}", content=body,
                                                      headers={**headers, **auth})
            except httpx.TimeoutException:
                raise UpstreamTimeout(f"model {model!r} did not answer in time") from None
            except httpx.TransportError:
                raise UpstreamUnavailable("the model server is unavailable") from None
            if not (response.status_code == 400 and _invalid_key(response)):
                break
        return _result(model, response, time.perf_counter() - started)

    async def ready(self, model: str) -> bool:
        """Whether the model has at least one READY worker."""
        try:
            headers = self._current_keys().management_headers()
            response = await self._management.get(f"/models/{model}", headers=headers)
            if response.status_code == 400 and _invalid_key(response):
                response = await self._management.get(
                    f"/models/{model}", headers=self._current_keys(refresh=True).management_headers())
        except (httpx.HTTPError, UpstreamUnavailable):
            return False
        if response.status_code != 200:
            return False
        workers = response.json()[0].get("workers", [])
        return any(worker.get("status") == "READY" for worker in workers)


def _invalid_key(response: httpx.Response) -> bool:
    return b"InvalidKeyException" in response.content


def _result(model: str, response: httpx.Response, seconds: float) -> UpstreamResponse:
    status = response.status_code
    if status == 200:
        return UpstreamResponse(response.content, response.headers.get("content-type", "application/json"), seconds)
    message = _message(response)
    if 400 <= status < 500 and status != 404:
        raise InvalidInput(message, status)  # the handler's own verdict on the request, passed on as is
    if status == 404:
        raise ModelNotReady(f"model {model!r} is not loaded in the model server")
    if status == 503:
        raise ModelNotReady(f"model {model!r} cannot take requests now: {message}")
    if status == 507:
        raise ModelNotReady(f"model {model!r} is out of resources: {message}")
    raise UpstreamError(f"model {model!r} failed: {message}")


def _message(response: httpx.Response) -> str:
    try:
        body = json.loads(response.content)
    except ValueError:
        return response.text[:300] or f"status {response.status_code}"
    if isinstance(body, dict):
        return str(body.get("error") or body.get("message") or body)[:500]
    return str(body)[:300]
