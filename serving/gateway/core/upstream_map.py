"""Which model server answers which model version: every version goes to the gateway's one TorchServe, except
those that `GATEWAY_TORCHSERVE_VERSION_URLS` sends to a model server of their own (on plain Kubernetes, the canary
Deployment's Service: docs/deploy.md, "Rollout and rollback").

The setting is text, `name/version=URL` pairs separated by commas, e.g.
`mlp_classifier/1.1=http://model-server-canary:8080`: one line in an env file or a ConfigMap, no JSON to quote.
A version is addressed as TorchServe names it, `name/version`, so the same key is the upstream path's model."""

import re
from collections.abc import Iterable, Mapping

from serving.gateway.core.http1 import Origin
from serving.versions import is_valid

# The characters an archive's model name may have (serving/archive/): no slash, so `name/version` splits once.
MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


def parse_version_urls(text: str) -> dict[str, str]:
    """`name/version=URL,…` as a mapping; ValueError naming the first pair that is not one."""
    urls: dict[str, str] = {}
    for pair in filter(None, (part.strip() for part in text.split(","))):
        target, equals, url = pair.partition("=")
        target, url = target.strip(), url.strip()
        name, slash, version = target.partition("/")
        if not equals or not slash or not MODEL_NAME.fullmatch(name) or not is_valid(version):
            raise ValueError(f"{pair[:120]!r} is not name/version=URL (e.g. "
                             "mlp_classifier/1.1=http://model-server-canary:8080)")
        try:
            Origin.parse(url)
        except ValueError:
            raise ValueError(f"{target}: {url[:120]!r} is not an http(s) URL with a host") from None
        if target in urls:
            raise ValueError(f"{target} is named twice")
        urls[target] = url
    return urls


def missing_versions(urls: Mapping[str, str], served: Iterable[tuple[str, str]]) -> list[str]:
    """The `name/version` keys of `urls` that the catalog does not serve (`served`: its (name, version) pairs)."""
    known = {f"{name}/{version}" for name, version in served}
    return sorted(set(urls) - known)


class Upstreams:
    """The origin each upstream model target (`name` or `name/version`) is sent to."""

    def __init__(self, default: Origin, version_urls: Mapping[str, str]) -> None:
        self.default = default
        self._by_target = {target: Origin.parse(url) for target, url in version_urls.items()}

    def origin(self, target: str) -> Origin:
        """Where a request for `target` goes."""
        return self._by_target.get(target, self.default) if self._by_target else self.default

    def targets(self) -> frozenset[str]:
        """The versions that have a model server of their own (always addressed as `name/version`)."""
        return frozenset(self._by_target)
