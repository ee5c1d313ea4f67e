"""Command line: `python -m serving.modelserver start|stop|status|run [--model-store DIR] [--home DIR]`.

`run` is `start` in the foreground (a container's main process): it stops TorchServe on SIGTERM.

Bad input (no model store, no archive in it, a port in use, bad settings) prints one line and exits with 2;
a server that fails to come up prints why, with the tails of its logs, and exits with 1.
"""

from __future__ import annotations

import argparse
import json
import sys
import zipfile
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from serving.cli import FAILURE, USAGE_ERROR, Parser, UsageError
from serving.examples import example_request
from serving.modelserver import foreground
from serving.modelserver.errors import InvalidSetup, ModelServerError
from serving.modelserver.runner import start, status, stop
from serving.modelserver.settings import ModelServerSettings


def build_parser() -> argparse.ArgumentParser:
    """The CLI's parser; settings not given here come from TS_* environment variables."""
    parser = Parser(prog="python -m serving.modelserver", description=__doc__,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("start", "stop", "status", "run"))
    parser.add_argument("--model-store", type=Path, help="folder of .mar archives (default: $TS_MODEL_STORE)")
    parser.add_argument("--home", type=Path, help="TorchServe's working directory (default: $TS_HOME)")
    return parser


def _settings(args: argparse.Namespace) -> ModelServerSettings:
    overrides: dict[str, Any] = {}
    if args.model_store is not None:
        overrides["ts_model_store"] = args.model_store
    if args.home is not None:
        overrides["ts_home"] = args.home
    try:
        return ModelServerSettings(**overrides)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        message = str(first["msg"]).removeprefix("Value error, ")  # pydantic's prefix for a validator's error
        raise UsageError(f"invalid settings: {where + ': ' if where else ''}{message}") from None


def sample_requests(store: Path) -> list[tuple[str, dict[str, Any]]]:
    """(model, example request) for every archive in the store, from the signature.json it carries."""
    samples = []
    for archive in sorted(store.glob("*.mar")):
        with zipfile.ZipFile(archive) as mar:
            signature = json.loads(mar.read("signature.json"))
        samples.append((signature["name"], example_request(signature)))
    return samples


def _print_ready(settings: ModelServerSettings) -> None:
    report = status(settings)
    print(f"TorchServe is ready with {len(report['models'])} model(s): {', '.join(sorted(report['models']))}")
    print(f"  inference:  {settings.inference_url}")
    print(f"  management: {settings.management_url}")
    print(f"  metrics:    {settings.metrics_url}")
    if not settings.ts_token_auth:
        print("  token authorization is off (TS_TOKEN_AUTH=false)")
        return
    print(f"  keys:       {Path(report['home']) / 'key_file.json'}")
    print("Try it (TorchServe wants its inference key):")
    key_file = Path(report["home"]).resolve() / "key_file.json"
    reader = f'import json; print(json.load(open("{key_file}"))["inference"]["key"])'
    print(f"  export TS_KEY=$(python3 -c '{reader}')")
    for name, request in sample_requests(settings.ts_model_store):
        print(f"  curl -s -H \"Authorization: Bearer $TS_KEY\" -H 'Content-Type: application/json' "
              f"{settings.inference_url}/predictions/{name} -d '{json.dumps(request)}'")


def run(argv: list[str]) -> int:
    """Carry out one command; raises UsageError, InvalidSetup or ModelServerError."""
    args = build_parser().parse_args(argv)
    settings = _settings(args)
    if args.command == "start":
        start(settings)
        _print_ready(settings)
    elif args.command == "run":
        return foreground.serve(settings)
    elif args.command == "stop":
        stop(settings)
        print("TorchServe is stopped.")
    else:
        print(json.dumps(status(settings), indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point: exit code 0, 1 (the server failed) or 2 (bad input, one line on stderr)."""
    try:
        return run(sys.argv[1:] if argv is None else argv)
    except (UsageError, InvalidSetup) as error:
        print(f"error: {error}", file=sys.stderr)
        return USAGE_ERROR
    except ModelServerError as error:
        print(f"error: {error}", file=sys.stderr)
        return FAILURE
