"""The lifecycle on the request path: pick the version, then call it under the outage gate, counted in flight
and by version, with a shadow copy when the policy asks for one. The data plane calls `pick` once per request
and `call` once per call to the model server (where the shadow is drawn), so every protocol routes the same way."""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from serving.gateway.core.catalog import ModelEntry
from serving.gateway.core.errors import GatewayError
from serving.gateway.core.lifecycle.control import Lifecycle
from serving.gateway.core.lifecycle.metrics import VersionMetrics
from serving.gateway.core.lifecycle.outage import OutageGate
from serving.gateway.core.lifecycle.policy_file import PolicyWatcher
from serving.gateway.core.lifecycle.shadow import ShadowMirror
from serving.gateway.core.upstream import UpstreamResponse

# The v1 way to ask for a version (v2 has it in the path); the answer always says which version gave it.
VERSION_HEADER = "x-model-version"
Send = Callable[[str, bytes, str, str | None, str | None], Awaitable[UpstreamResponse]]


@dataclass
class LifecycleRuntime:
    """The lifecycle's parts the request path uses."""

    control: Lifecycle
    gate: OutageGate
    mirror: ShadowMirror
    metrics: VersionMetrics
    watcher: PolicyWatcher | None = None
    # The `name/version` targets a model server of their own answers (GATEWAY_TORCHSERVE_VERSION_URLS).
    own_servers: frozenset[str] = frozenset()

    def pick(self, name: str, version: str | None, key: str | None) -> ModelEntry:
        """The version that answers one request: `version` when the client named one, else the traffic
        policy's choice (sticky by `key`); ModelNotFound for an unknown model or version."""
        catalog = self.control.catalog
        if version is not None:
            return catalog.get(name, version)
        catalog.get(name)
        return catalog.get(name, self.control.route(name, key).version)

    def target(self, entry: ModelEntry) -> str:
        """TorchServe's name for the version: `name/version` once a model has several (or the version has a model
        server of its own), else the name alone (its only version is TorchServe's default, and messages stay as
        they were)."""
        name = entry.name
        if self.control.catalog.count(name) > 1 or name in self.control.policy.models:
            return f"{name}/{entry.version}"
        if self.own_servers and f"{name}/{entry.version}" in self.own_servers:
            return f"{name}/{entry.version}"
        return name

    async def call(self, entry: ModelEntry, send: Send, body: bytes, content_type: str, accept: str | None,
                   request_id: str | None, deadline: float | None) -> UpstreamResponse:
        """One call to the picked version: in flight (so that it drains), under the outage gate, counted; then a
        shadow copy when the policy draws one."""
        target = self.target(entry)
        started = asyncio.get_running_loop().time()
        with self.control.flights.hold(entry.name, entry.version):
            try:
                result = await self.gate.call(target, lambda: send(target, body, content_type, accept, request_id),
                                              deadline)
            except GatewayError:
                self.metrics.answered(entry.name, entry.version, False, 0.0)
                raise
        self.metrics.answered(entry.name, entry.version, True, asyncio.get_running_loop().time() - started)
        shadow = self.control.policy.shadow_for(entry.name, entry.version, self.control.rng)
        if shadow is not None:
            self._mirror(entry.name, shadow, send, body, content_type, accept, result.body)
        # built directly: dataclasses.replace costs more than the rest of this step
        return UpstreamResponse(result.body, result.content_type, result.seconds, entry.version, result.batch)

    def _mirror(self, name: str, version: str, send: Send, body: bytes, content_type: str, accept: str | None,
                primary: bytes) -> None:
        target = f"{name}/{version}"

        async def copy() -> bytes:
            return (await send(target, body, content_type, accept, None)).body

        self.mirror.mirror(name, version, primary, copy)

    async def ready(self, name: str, probe: Callable[[str], Awaitable[bool]]) -> bool:
        """A model is ready when its default version is not in an outage and the model server says so."""
        entry = self.control.catalog.get(name)
        target = self.target(entry)
        return not self.gate.is_down(target) and await probe(target)

    async def aclose(self) -> None:
        """Stop the probes and the shadow copies."""
        await self.gate.aclose()
        await self.mirror.aclose()
