"""The traffic policy: for each model, which version answers a request, and which one is mirrored.

A pure module (no I/O, no clock): the gateway calls `choose` once per request. A request that carries a traffic
key (the `X-Traffic-Key` header) always lands on the same side of a canary split, because the side is a hash of
the model and the key; one without a key is drawn at random. Shadow sampling is drawn independently."""

import hashlib
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

TRAFFIC_KEY_HEADER = "x-traffic-key"
# A split in basis points (1/100 of a percent): fine enough for a 0.5 % canary, exact in integers.
_BUCKETS = 10_000


class PolicyError(ValueError):
    """A policy that cannot be applied; the message says which model and field."""


@dataclass(frozen=True)
class Split:
    """A share of a model's requests sent to (or mirrored to) another version."""

    version: str
    percent: float


@dataclass(frozen=True)
class ModelPolicy:
    """One model's routing: the default version, an optional canary split and an optional shadow."""

    default: str
    canary: Split | None = None
    shadow: Split | None = None

    def versions(self) -> set[str]:
        """Every version this policy can send a request to or mirror one to."""
        return {self.default} | {s.version for s in (self.canary, self.shadow) if s is not None}


@dataclass(frozen=True)
class Route:
    """The versions for one request: who answers, and who (if anyone) gets a mirrored copy."""

    version: str
    shadow: str | None = None


@dataclass(frozen=True)
class TrafficPolicy:
    """Every model's policy; a model without one is served by its only (or newest) version."""

    models: Mapping[str, ModelPolicy] = field(default_factory=dict)

    def choose(self, model: str, fallback: str, key: str | None, rng: random.Random) -> Route:
        """The route for one request to `model` (`fallback`: its default when the policy names none)."""
        policy = self.models.get(model)
        if policy is None:
            return Route(fallback)
        version = policy.default
        if policy.canary is not None and _in_share(policy.canary.percent, model, key, rng):
            version = policy.canary.version
        return Route(version, self.shadow_for(model, version, rng))

    def shadow_for(self, model: str, version: str, rng: random.Random) -> str | None:
        """The version that gets a copy of one call answered by `version`, drawn at the shadow's share (never
        `version` itself; a pinned version is mirrored too: the copy cannot change the client's answer)."""
        policy = self.models.get(model)
        shadow = policy.shadow if policy is not None else None
        if shadow is None or shadow.version == version or rng.random() * 100 >= shadow.percent:
            return None
        return shadow.version

    def default_of(self, model: str) -> str | None:
        """The model's default version, when the policy names one."""
        policy = self.models.get(model)
        return policy.default if policy else None

    def with_model(self, model: str, policy: ModelPolicy | None) -> "TrafficPolicy":
        """A copy with `model`'s policy replaced (None: removed)."""
        models = {k: v for k, v in self.models.items() if k != model}
        if policy is not None:
            models[model] = policy
        return TrafficPolicy(models)

    def to_dict(self) -> dict[str, Any]:
        """The policy in the file's format (what `parse` reads back)."""
        return {"models": {name: _model_dict(p) for name, p in sorted(self.models.items())}}


def bucket(model: str, key: str) -> int:
    """The stable bucket (0 … 9999) of a traffic key for a model: the same key, the same side of every split."""
    digest = hashlib.blake2b(f"{model}\0{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % _BUCKETS


def _in_share(percent: float, model: str, key: str | None, rng: random.Random) -> bool:
    threshold = round(percent * _BUCKETS / 100)
    drawn = bucket(model, key) if key else rng.randrange(_BUCKETS)
    return drawn < threshold


def _model_dict(policy: ModelPolicy) -> dict[str, Any]:
    out: dict[str, Any] = {"default": policy.default}
    for name, split in (("canary", policy.canary), ("shadow", policy.shadow)):
        if split is not None:
            out[name] = {"version": split.version, "percent": split.percent}
    return out


def parse(data: object, known: Mapping[str, set[str]]) -> TrafficPolicy:
    """A policy from the file's data (`{"models": {name: {default, canary?, shadow?}}}`), checked against the
    `known` versions of each served model; anything else is a PolicyError that names the problem."""
    if not isinstance(data, dict) or set(data) - {"models"}:
        raise PolicyError("a traffic policy is a mapping with one key, 'models'")
    models = data.get("models")
    models = {} if models is None else models
    if not isinstance(models, dict):
        raise PolicyError("'models' must map model names to policies")
    return TrafficPolicy({str(name): parse_model(str(name), spec, known) for name, spec in models.items()})


def parse_model(name: str, spec: object, known: Mapping[str, set[str]]) -> ModelPolicy:
    """One model's policy, checked: known model and versions, percentages in 0 … 100, no unknown field."""
    if name not in known:
        raise PolicyError(f"model {name!r} is not served")
    if not isinstance(spec, dict):
        raise PolicyError(f"{name}: the policy must be a mapping with 'default', and optionally 'canary', 'shadow'")
    unknown = set(spec) - {"default", "canary", "shadow"}
    if unknown:
        raise PolicyError(f"{name}: unknown field {sorted(unknown)[0]!r} (allowed: default, canary, shadow)")
    default = _version(name, "default", spec.get("default"), known[name])
    canary = _split(name, "canary", spec.get("canary"), known[name])
    shadow = _split(name, "shadow", spec.get("shadow"), known[name])
    for label, split in (("canary", canary), ("shadow", shadow)):
        if split is not None and split.version == default:
            raise PolicyError(f"{name}: the {label} version {default!r} is the default version")
    return ModelPolicy(default, canary, shadow)


def _version(model: str, where: str, value: object, versions: set[str]) -> str:
    if not isinstance(value, str | int | float) or isinstance(value, bool) or not str(value):
        raise PolicyError(f"{model}: {where} must be a version string")
    version = str(value)
    if version not in versions:
        raise PolicyError(f"{model}: {where} version {version!r} is not served (served: {', '.join(sorted(versions))})")
    return version


def _split(model: str, label: str, value: object, versions: set[str]) -> Split | None:
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != {"version", "percent"}:
        raise PolicyError(f"{model}: {label} must be a mapping with exactly 'version' and 'percent'")
    percent = value["percent"]
    if isinstance(percent, bool) or not isinstance(percent, int | float) or not 0 <= percent <= 100:
        raise PolicyError(f"{model}: {label} percent must be a number from 0 to 100, got {percent!r}")
    return Split(_version(model, f"{label}", value["version"], versions), float(percent))
