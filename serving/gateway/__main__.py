"""`python -m serving.gateway`: run the gateway with uvicorn on GATEWAY_HOST:GATEWAY_PORT."""

import sys

import uvicorn
from pydantic import ValidationError

from serving.gateway.app import create_app
from serving.gateway.observability import configure_logging
from serving.gateway.settings import get_settings


def main() -> int:
    """Validate the settings (one line and exit 2 when they are unsafe or wrong), then serve."""
    try:
        settings = get_settings()
        configure_logging(settings.gateway_log_level)
        app = create_app(settings)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        print(f"error: invalid gateway settings: {where + ': ' if where else ''}"
              f"{str(first['msg']).removeprefix('Value error, ')}", file=sys.stderr)
        return 2
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    # One process, one event loop: the gateway is I/O-bound; scale with replicas, not workers.
    uvicorn.run(app, host=settings.gateway_host, port=settings.gateway_port, log_config=None,
                access_log=False, timeout_graceful_shutdown=30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
