"""The lifecycle's control side, behind the admin API and its CLI: register a version from the model store,
scale it, set a model's traffic policy (promote, roll back), and unregister a version once it has drained.

Every change is one audit line on the `serving.gateway.audit` logger, with who (the admin key's fingerprint,
never the key), what, and the outcome. TorchServe is reached only through `Manage` (the gateway's client with the
management token); the admin API itself is the gateway's, never TorchServe's management port."""

import logging
import random
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from serving.gateway.core.catalog import Catalog, ModelEntry, read_archive
from serving.gateway.core.errors import GatewayError, InvalidInput, UpstreamError
from serving.gateway.core.lifecycle.drain import InFlight
from serving.gateway.core.lifecycle.policy import ModelPolicy, PolicyError, Route, TrafficPolicy, parse_model
from serving.gateway.core.lifecycle.store import archive_in_store

audit = logging.getLogger("serving.gateway.audit")
Manage = Callable[[str, str], Awaitable[tuple[int, str]]]


class Conflict(GatewayError):
    """The change contradicts what is served now (a version in use, one already registered)."""

    status = 409


@dataclass
class Lifecycle:
    """What is served and how traffic is split, changed only through these methods."""

    catalog: Catalog
    store: Path
    manage: Manage
    policy: TrafficPolicy = field(default_factory=TrafficPolicy)
    flights: InFlight = field(default_factory=InFlight)
    drain_timeout_s: float = 30.0
    rng: random.Random = field(default_factory=random.Random)

    def route(self, model: str, key: str | None) -> Route:
        """The versions for one request to `model` (known to the catalog)."""
        return self.policy.choose(model, self.catalog.default_version(model), key, self.rng)

    def apply_policy(self, policy: TrafficPolicy) -> None:
        """Put a validated policy in force (from the file, or the admin API); the catalog's defaults follow it."""
        for name, model_policy in policy.models.items():
            self.catalog.set_default(name, model_policy.default)
        self.policy = policy

    async def register(self, actor: str, archive: str, workers: int) -> ModelEntry:
        """Register an archive of the store in TorchServe with `workers` workers, then serve it (no traffic yet:
        the model's default stays until the policy names the new version)."""
        with _audited(actor, "register", archive=archive, workers=workers):
            path = archive_in_store(self.store, archive)
            try:
                entry = read_archive(path)
            except (KeyError, ValueError, OSError) as error:
                raise InvalidInput(f"archive {archive!r} is not a model archive of this stack ({error})") from None
            if entry.version in self.catalog.versions(entry.name):
                raise Conflict(f"{entry.name} {entry.version} is already served")
            await self._call("POST", f"/models?url={quote(path.name)}&initial_workers={workers}&synchronous=true")
            self.catalog.add(entry)
            return entry

    async def set_workers(self, actor: str, model: str, version: str, workers: int) -> None:
        """Scale one version to exactly `workers` workers."""
        with _audited(actor, "set_workers", model=model, version=version, workers=workers):
            self.catalog.get(model, version)
            await self._call("PUT", f"/models/{model}/{version}?min_worker={workers}&max_worker={workers}"
                                    "&synchronous=true")

    def set_policy(self, actor: str, model: str, spec: object) -> ModelPolicy:
        """Replace one model's traffic policy (validated against the versions served)."""
        with _audited(actor, "set_policy", model=model, policy=spec):
            try:
                policy = parse_model(model, spec, self.catalog.known())
            except PolicyError as error:
                raise InvalidInput(str(error)) from None
            self.apply_policy(self.policy.with_model(model, policy))
            return policy

    def promote(self, actor: str, model: str) -> ModelPolicy:
        """The canary becomes the default version and takes all the traffic."""
        current = self._policy_of(model)
        if current.canary is None:
            raise Conflict(f"{model} has no canary to promote")
        return self.set_policy(actor, model, {"default": current.canary.version})

    def rollback(self, actor: str, model: str) -> ModelPolicy:
        """Drop the canary and the shadow: the default version takes all the traffic again."""
        return self.set_policy(actor, model, {"default": self._policy_of(model).default})

    async def unregister(self, actor: str, model: str, version: str) -> None:
        """Stop routing to a version, wait for its in-flight requests, then unregister it from TorchServe."""
        with _audited(actor, "unregister", model=model, version=version):
            self.catalog.get(model, version)
            if version in self.policy.models.get(model, ModelPolicy(self.catalog.default_version(model))).versions():
                raise Conflict(f"{model} {version} is in the traffic policy; promote or roll back first")
            try:
                self.catalog.remove(model, version)  # from here on no new request picks it
            except ValueError as error:
                raise Conflict(str(error)) from None
            if not await self.flights.drained(model, version, self.drain_timeout_s):
                audit.warning("unregister %s %s: %d requests still in flight after %.0f s", model, version,
                              self.flights.count(model, version), self.drain_timeout_s)
            # TorchServe refuses to remove its default version; make the gateway's default TorchServe's first.
            await self._call("PUT", f"/models/{model}/{self.catalog.default_version(model)}/set-default")
            await self._call("DELETE", f"/models/{model}/{version}")

    def describe(self) -> dict[str, Any]:
        """Every model's versions, default, policy and in-flight counts (GET /admin/v1/models)."""
        return {"models": [{"name": name, "default": self.catalog.default_version(name),
                            "versions": [{"version": v, "in_flight": self.flights.count(name, v)}
                                         for v in self.catalog.versions(name)],
                            "policy": self.describe_policy(name)}
                           for name in self.catalog.names()]}

    def describe_policy(self, model: str) -> dict[str, Any]:
        """One model's policy in the file's format."""
        self.catalog.get(model)
        policy: dict[str, Any] = TrafficPolicy({model: self._policy_of(model)}).to_dict()["models"][model]
        return policy

    def _policy_of(self, model: str) -> ModelPolicy:
        return self.policy.models.get(model) or ModelPolicy(self.catalog.default_version(model))

    async def _call(self, method: str, path: str) -> None:
        status, message = await self.manage(method, path)
        if status >= 300:
            raise UpstreamError(f"the model server refused {method} {path.split('?')[0]}: {message}")


@contextmanager
def _audited(actor: str, action: str, **details: object) -> Iterator[None]:
    """One audit line per change, with its outcome: `ok`, or the message of the error it ended with."""
    try:
        yield
    except Exception as error:
        _audit_line(actor, action, details, getattr(error, "message", type(error).__name__))
        raise
    _audit_line(actor, action, details, "ok")


def _audit_line(actor: str, action: str, details: dict[str, object], outcome: str) -> None:
    line = {"actor": actor, "action": action, **details, "outcome": outcome}
    audit.info("admin %s %s", action, outcome, extra={"audit": line})
