"""`python -m serving.stack`: the whole stack on localhost, in the foreground — TorchServe behind the
gateway (REST and gRPC) — stopped cleanly (both) on Ctrl-C or SIGTERM. What `make serve` runs.

uvicorn handles SIGINT and SIGTERM itself while it serves, shuts the gateway down, then raises the captured signal
again with the handlers it found installed. Those are `signals_terminate`'s, so the signal becomes Terminated and
unwinds through the `finally` that stops TorchServe (with Python's default SIGTERM handler the process would
just die there, leaving TorchServe running and its ports taken)."""

import json
import signal
import sys

import uvicorn
from fastapi import FastAPI
from pydantic import ValidationError

from serving.cli import Terminated, signals_terminate
from serving.gateway.app import create_app
from serving.gateway.core.catalog import Catalog
from serving.gateway.core.kinds import UnknownKind
from serving.gateway.observability import configure_logging
from serving.gateway.settings import GatewaySettings, get_settings
from serving.modelserver import InvalidSetup, ModelServerError, ModelServerSettings, start, stop
from serving.modelserver.settings import get_settings as get_model_server_settings

NUMPY_TYPES = {"FP32": "float32", "INT64": "int64"}  # the numeric inputs of the kinds' v2 contracts


def print_banner(settings: GatewaySettings, catalog: Catalog) -> None:
    """The URLs and one working curl per model."""
    base = f"http://{settings.gateway_host}:{settings.gateway_port}"
    auth = ' -H "Authorization: Bearer $API_KEY"' if settings.api_keys() else ""
    print(f"\nThe stack is up. Gateway: {base}  (docs: {base}/docs, metrics: {base}/metrics)")
    print("Try it:")
    for entry in catalog:
        print(f"  curl -s{auth} -H 'Content-Type: application/json' {base}/v1/models/{entry.name}/predict "
              f"-d '{json.dumps(entry.example())}'")
    if settings.gateway_grpc_port:
        print(grpc_example(settings, catalog))
    print("Ctrl-C stops the gateway and TorchServe.\n", flush=True)


def grpc_example(settings: GatewaySettings, catalog: Catalog) -> str:
    """A working gRPC inference (OIP v2) with tritonclient, for the first model that takes numbers."""
    target = f"{settings.gateway_host}:{settings.gateway_grpc_port}"
    headers = ", headers={'authorization': 'Bearer ' + os.environ['API_KEY']}" if settings.api_keys() else ""
    numeric = [entry for entry in catalog if entry.contract[0][0].datatype in NUMPY_TYPES]
    if not numeric:
        return f"gRPC (OIP v2, grpc.health.v1) on {target}"
    entry = numeric[0]
    (tensor,) = entry.model_kind.example_infer(entry.signature)["inputs"]
    output = entry.contract[1][0].name
    code = (f"import os, numpy as np, tritonclient.grpc as g; c = g.InferenceServerClient('{target}'); "
            f"x = g.InferInput('{tensor['name']}', {tensor['shape']}, '{tensor['datatype']}'); "
            f"x.set_data_from_numpy(np.array({tensor['data']}, np.{NUMPY_TYPES[tensor['datatype']]})"
            f".reshape({tensor['shape']})); "
            f"print(c.infer('{entry.name}', [x]{headers}).as_numpy('{output}').tolist())")
    return f"gRPC (OIP v2, grpc.health.v1) on {target}, e.g.:\n  python -c \"{code}\""


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def main() -> int:
    """Start TorchServe, serve the gateway until SIGINT or SIGTERM (exit 0), then stop TorchServe."""
    try:
        settings = get_settings()
        model_server = get_model_server_settings()
        configure_logging(settings.gateway_log_level)
        app = create_app(settings, model_server, serve_grpc=True)
    except (ValidationError, FileNotFoundError, UnknownKind) as error:
        print(f"error: {str(error).splitlines()[0]}", file=sys.stderr)
        return 2
    try:
        with signals_terminate(*STOP_SIGNALS):
            return serve(settings, model_server, app)
    except Terminated as received:
        print(f"{received}: the stack stopped.", flush=True)
        return 0


def serve(settings: GatewaySettings, model_server: ModelServerSettings, app: FastAPI) -> int:
    """TorchServe, then the gateway in the foreground; TorchServe is stopped however the gateway ends. A signal
    during `start` stops the half-started TorchServe there."""
    try:
        start(model_server)
    except InvalidSetup as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except ModelServerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    try:
        print_banner(settings, Catalog.from_store(settings.gateway_model_store))
        uvicorn.run(app, host=settings.gateway_host, port=settings.gateway_port, log_config=None,
                    access_log=False, timeout_graceful_shutdown=30)
    finally:
        for signum in STOP_SIGNALS:  # a second signal must not interrupt the orderly stop
            signal.signal(signum, signal.SIG_IGN)
        stop(model_server)
        print("TorchServe stopped.", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
