"""The traffic policy's file (a ConfigMap in Kubernetes), read at start-up and again whenever it changes.

A file that cannot be read or does not validate is refused as a whole: the policy in force stays, the refusal
is logged and counted, and the next change of the file is tried again. Kubernetes updates a mounted ConfigMap
by swapping a symlink, so the watcher compares the file's content, not its modification time."""

import asyncio
import hashlib
import logging
from collections.abc import Callable, Mapping
from pathlib import Path

import yaml

from serving.gateway.core.lifecycle.policy import PolicyError, TrafficPolicy, parse

log = logging.getLogger("serving.gateway.core.lifecycle")
# A policy is a few lines per model; anything larger is a mistake, not a policy.
MAX_POLICY_BYTES = 256 * 1024


def load(path: Path, known: Mapping[str, set[str]]) -> TrafficPolicy:
    """Read and validate the policy file; PolicyError says why it is refused."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise PolicyError(f"cannot read the policy file {path}: {error.strerror}") from None
    return loads(raw, known)


def loads(raw: bytes, known: Mapping[str, set[str]]) -> TrafficPolicy:
    """Validate a policy given as YAML (or JSON, which is YAML too)."""
    if len(raw) > MAX_POLICY_BYTES:
        raise PolicyError(f"the policy is over {MAX_POLICY_BYTES} bytes")
    try:
        data = yaml.safe_load(raw) if raw.strip() else {"models": {}}
    except yaml.YAMLError as error:
        raise PolicyError(f"the policy is not valid YAML: {str(error).splitlines()[0]}") from None
    return parse(data, known)


class PolicyWatcher:
    """Keeps `current` in step with the file: `check()` re-reads it when its bytes changed."""

    def __init__(self, path: Path, known: Callable[[], Mapping[str, set[str]]],
                 on_refused: Callable[[str], None] | None = None) -> None:
        self.path = path
        self._known = known
        self._on_refused = on_refused or (lambda message: None)
        self._digest: bytes | None = None
        self.current = TrafficPolicy()
        self.last_error: str | None = None
        # Called with each new policy from the file (the gateway puts it in force there).
        self.on_applied: Callable[[TrafficPolicy], None] = lambda policy: None

    def check(self) -> bool:
        """Apply the file if it changed since the last look; True when a new policy took effect."""
        try:
            raw = self.path.read_bytes()
        except OSError as error:
            return self._refuse(f"cannot read the policy file {self.path}: {error.strerror}", None)
        digest = hashlib.sha256(raw).digest()
        if digest == self._digest:
            return False
        try:
            policy = loads(raw, self._known())
        except PolicyError as error:
            return self._refuse(str(error), digest)
        self._digest, self.current, self.last_error = digest, policy, None
        self.on_applied(policy)
        log.info("traffic policy from %s applied: %s", self.path, policy.to_dict())
        return True

    def _refuse(self, message: str, digest: bytes | None) -> bool:
        if message != self.last_error:  # logged once per bad version of the file, not at every poll
            log.error("traffic policy refused, the previous one stays in force: %s", message)
            self._on_refused(message)
        self.last_error = message
        if digest is not None:
            self._digest = digest  # the same bad bytes are not parsed again at every poll
        return False

    async def watch(self, interval_s: float) -> None:
        """Poll the file until cancelled."""
        while True:
            await asyncio.sleep(interval_s)
            self.check()
