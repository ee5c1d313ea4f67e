"""`python -m serving.gateway`: run the gateway with uvicorn on GATEWAY_HOST:GATEWAY_PORT, and its gRPC front-end
on GATEWAY_GRPC_PORT in the same event loop."""

import gc
import sys

import uvicorn
from pydantic import ValidationError

from serving.gateway.app import create_app
from serving.gateway.core.kinds import UnknownKind
from serving.gateway.observability import configure_logging
from serving.gateway.settings import get_settings

# Young-generation collections every 50,000 allocations instead of 700: a request allocates many short-lived
# objects, nearly all freed by reference counting, so frequent collections find little (docs/benchmarks.md).
GC_THRESHOLDS = (50_000, 50, 1000)


def tune_gc() -> None:
    """Move what start-up built (modules, routes, schemas, settings) out of the collector's reach, so that a full
    collection under load walks only the objects of requests: at 64 connections such pauses were the p99."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def main() -> int:
    """Validate the settings (one line and exit 2 when they are unsafe or wrong), then serve."""
    try:
        settings = get_settings()
        configure_logging(settings.gateway_log_level)
        app = create_app(settings, serve_grpc=True)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        print(f"error: invalid gateway settings: {where + ': ' if where else ''}"
              f"{str(first['msg']).removeprefix('Value error, ')}", file=sys.stderr)
        return 2
    except (FileNotFoundError, UnknownKind) as error:  # no model store, or an archive of a kind not served
        print(f"error: {error}", file=sys.stderr)
        return 2
    tune_gc()
    # One process, one event loop: the gateway is I/O-bound; scale with replicas, not workers.
    uvicorn.run(app, host=settings.gateway_host, port=settings.gateway_port, log_config=None,
                access_log=False, timeout_graceful_shutdown=30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
