"""The images' HEALTHCHECK: GET the probe endpoint of this container's server; exit 0 when it answers 200.

    python docker/healthcheck.py model-server   # TorchServe's /ping: 200 once every model has its workers
    python docker/healthcheck.py gateway        # the gateway's /livez

The address comes from the same settings (TS_*, GATEWAY_*) the server was started with, so a port changed
in the environment is followed. Kubernetes ignores HEALTHCHECK and uses the manifests' probes, which name
the same endpoints (tests check that).
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request

TIMEOUT_S = 4.0
PATHS = {"model-server": "/ping", "gateway": "/livez"}


def probe_url(target: str) -> tuple[str, dict[str, str]]:
    """The URL to probe for `target` and the headers it needs (TorchServe's key when tokens are on)."""
    if target == "model-server":
        from serving.modelserver.keys import server_keys
        from serving.modelserver.settings import ModelServerSettings

        settings = ModelServerSettings()  # inference_url reaches a wildcard bind through loopback
        return settings.inference_url + PATHS[target], server_keys(settings).inference_headers()
    if target == "gateway":
        from serving.gateway.settings import GatewaySettings
        from serving.modelserver.settings import client_url

        gateway = GatewaySettings()  # client_url reaches a wildcard bind through loopback
        headers = {} if gateway.gateway_open_health or not gateway.api_keys() else \
            {"Authorization": f"Bearer {gateway.api_keys()[0]}"}
        return client_url(gateway.gateway_host, gateway.gateway_port) + PATHS[target], headers
    raise ValueError(f"unknown target {target!r}; choose from {', '.join(PATHS)}")


def main(argv: list[str] | None = None) -> int:
    """0 when the endpoint answers 200, 1 otherwise (with the reason on stderr), 2 on bad usage."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] not in PATHS:
        print(f"usage: python docker/healthcheck.py {'|'.join(PATHS)}", file=sys.stderr)
        return 2
    try:
        url, headers = probe_url(args[0])
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=TIMEOUT_S) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    except Exception as error:  # unreachable, refused, bad settings: all mean unhealthy
        print(f"unhealthy: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"unhealthy: {url} answered {status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
