"""`python -m loadtests run|soak|bench|sweep|runtimes`: load tests of the stack, from one command.

    python -m loadtests run --users 16 --spawn-rate 8 --duration 30 --target gateway --models cnn_digits
    python -m loadtests soak --duration 1800          # 32 users of the mixed load; memory growth checked
    python -m loadtests bench                         # docs/benchmarks.md: the stack and its peers, with wrk
    python -m loadtests bench --peers kserve mlserver # the stack against two peers
    python -m loadtests bench --quick                 # a smoke run of seconds (LitServe the only peer)
    python -m loadtests sweep                         # TorchServe batch settings, direct and via the gateway
    python -m loadtests runtimes                      # docs/runtimes.md: TorchScript, AOTInductor, ONNX Runtime

`run` uses the stack at --host when one answers there (the gateway's or TorchServe's default address when
--host is not given) and otherwise starts TorchServe and the gateway on free loopback ports for the run.
The gateway's API key comes from LOADTEST_API_KEY (or the first of GATEWAY_API_KEYS). Reports go to
--reports (default reports/<command>-<time>). Exit codes: 0 passed, 1 a failure or an exceeded budget,
2 bad input (one line), 128 + the signal's number when SIGTERM or Ctrl-C stopped it.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
import tomllib
from contextlib import ExitStack
from pathlib import Path

import httpx

from loadtests import locust_run
from loadtests.locust_run import LoadSpec
from loadtests.stack import local_stack
from serving.archive.builder import RUNTIMES
from serving.cli import FAILURE, USAGE_ERROR, Parser, Terminated, UsageError, signals_terminate
from serving.gateway.settings import GatewaySettings
from serving.modelserver import InvalidSetup, ModelServerError, ModelServerSettings, read_keys

HERE = Path(__file__).resolve().parent
MIX = HERE / "mix.toml"
SLO = HERE / "slo.toml"


def build_parser() -> argparse.ArgumentParser:
    """The commands and their options."""
    parser = Parser(prog="python -m loadtests", description=__doc__,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    run = sub.add_parser("run", help="one Locust run of the mixed load, with reports and the SLO check")
    _load_options(run, users=16, duration=30)
    run.add_argument("--target", choices=("gateway", "torchserve"), default="gateway")
    run.add_argument("--host", help="the server to load (default: the running stack, else one started here)")
    soak = sub.add_parser("soak", help="a long mixed run at 32 users on a stack of its own; memory growth checked")
    _load_options(soak, users=32, duration=1800)
    soak.add_argument("--max-growth", type=float, default=0.10, help="allowed RSS growth after warm-up (0.10: 10%%)")
    soak.add_argument("--warmup", type=int, default=None, help="seconds before the memory baseline (default: 10%% "
                      "of the duration, at least 10)")
    bench = sub.add_parser("bench", help="the serving benchmark: the stack (in-process, TorchServe, gateway v1 and "
                           "v2) and its peers")
    bench.add_argument("--models", nargs="+", default=["mlp_classifier", "cnn_digits", "char_rnn"])
    bench.add_argument("--connections", nargs="+", type=int, default=[1, 4, 16, 64])
    bench.add_argument("--seconds", type=int, default=5)
    bench.add_argument("--repeats", type=int, default=3)
    bench.add_argument("--peers", nargs="*", default=None, help="peers to compare with (default: all of them; "
                       "none: the stack alone): litserve ray-serve bentoml kserve mlserver torchserve")
    bench.add_argument("--quick", action="store_true", help="a smoke run of seconds: mlp_classifier, 1 and 4 "
                       "connections, 1 s, one repeat, LitServe only (unless --peers), report in reports/")
    bench.add_argument("--store", type=Path, default=Path("model_store"))
    bench.add_argument("--artifacts", type=Path, default=Path("artifacts"))
    bench.add_argument("--out", type=Path, default=None, help="the report (default: docs/benchmarks.md; "
                       "reports/bench-quick.md with --quick)")
    sweep = sub.add_parser("sweep", help="TorchServe's batchSize, maxBatchDelay and workers, direct and gateway")
    sweep.add_argument("--models", nargs="+", default=["mlp_classifier", "cnn_digits"])
    sweep.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 8, 32])
    sweep.add_argument("--delays", nargs="+", type=int, default=[0, 2, 5], help="maxBatchDelay values (ms)")
    sweep.add_argument("--workers", nargs="+", type=int, default=[1, 2])
    sweep.add_argument("--threads", nargs="+", type=int, default=[1, 2], help="torch threads per worker")
    sweep.add_argument("--seconds", type=int, default=3)
    sweep.add_argument("--repeats", type=int, default=1)
    sweep.add_argument("--artifacts", type=Path, default=Path("artifacts"))
    sweep.add_argument("--out", type=Path, default=Path("docs/benchmarks.md"))
    runtimes = sub.add_parser("runtimes", help="every model on TorchScript, AOTInductor and ONNX Runtime")
    runtimes.add_argument("--models", nargs="+", default=None, help="default: every folder under --artifacts")
    runtimes.add_argument("--runtimes", nargs="+", choices=RUNTIMES, default=list(RUNTIMES))
    runtimes.add_argument("--batches", nargs="+", type=int, default=[1, 8, 64])
    runtimes.add_argument("--connections", nargs="+", type=int, default=[1, 16])
    runtimes.add_argument("--seconds", type=int, default=3)
    runtimes.add_argument("--repeats", type=int, default=3, help="interleaved stack runs per figure (median kept)")
    runtimes.add_argument("--artifacts", type=Path, default=Path("artifacts"))
    runtimes.add_argument("--out", type=Path, default=Path("docs/runtimes.md"))
    return parser


def _load_options(parser: argparse.ArgumentParser, users: int, duration: int) -> None:
    parser.add_argument("--users", type=int, default=users)
    parser.add_argument("--spawn-rate", type=float, default=8.0, help="users started per second")
    parser.add_argument("--duration", type=int, default=duration, help="seconds")
    parser.add_argument("--models", nargs="+", default=[], help="a subset of the mix (default: all of it)")
    parser.add_argument("--store", type=Path, default=Path("model_store"), help="archives, for a stack started here")
    parser.add_argument("--mix", type=Path, default=MIX, help="model → weight of its users (TOML)")
    parser.add_argument("--slo", type=Path, default=SLO, help="latency budgets (TOML)")
    parser.add_argument("--reports", type=Path, help="report folder (default: reports/<command>-<time>)")


def _check(args: argparse.Namespace) -> None:
    if args.command == "runtimes":
        if args.seconds < 1 or args.repeats < 1 or min(args.batches + args.connections) < 1:
            raise UsageError("--seconds, --repeats, --batches and --connections must be at least 1")
        if args.models is None:
            args.models = sorted(p.parent.name for p in args.artifacts.glob("*/signature.json"))
        return
    if args.command == "bench":
        _bench_options(args)
        if args.seconds < 1 or args.repeats < 1 or any(c < 1 for c in args.connections):
            raise UsageError("--seconds, --repeats and --connections must be at least 1")
        return
    if args.command == "sweep":
        if (args.seconds < 1 or args.repeats < 1 or min(args.batch_sizes + args.workers + args.threads) < 1
                or min(args.delays) < 0):
            raise UsageError("--seconds, --repeats, --batch-sizes, --workers, --threads must be at least 1, "
                             "--delays at least 0")
        return
    if args.users < 1 or args.duration < 1 or args.spawn_rate <= 0:
        raise UsageError("--users and --duration must be at least 1 and --spawn-rate positive")
    mix = set(_mix(args.mix))
    unknown = sorted(set(args.models) - mix)
    if unknown:
        raise UsageError(f"not in the load mix ({args.mix.name}): {', '.join(unknown)}")
    if not args.slo.is_file():
        raise UsageError(f"SLO file not found: {args.slo}")
    try:
        slo = tomllib.loads(args.slo.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise UsageError(f"SLO file {args.slo} is not valid TOML: {error}") from None
    strangers = sorted(set(slo.get("models", {})) - mix)
    if strangers:  # a typo would silently leave a model without its budget
        raise UsageError(f"SLO file {args.slo} names models the mix does not have: {', '.join(strangers)}")


def _bench_options(args: argparse.Namespace) -> None:
    """--quick's presets, the default peers and report, and unknown peer names refused."""
    from loadtests.peers.registry import PEERS, QUICK  # loads the peer adapters: only for `bench`

    if args.quick:
        args.models, args.connections, args.seconds, args.repeats = ["mlp_classifier"], [1, 4], 1, 1
        args.peers = [QUICK] if args.peers is None else args.peers
    args.peers = list(PEERS) if args.peers is None else args.peers
    unknown = [name for name in args.peers if name not in PEERS]
    if unknown:
        raise UsageError(f"unknown peer {', '.join(unknown)} (known: {', '.join(PEERS)})")
    if args.out is None:
        args.out = Path("reports/bench-quick.md" if args.quick else "docs/benchmarks.md")


def _mix(path: Path) -> dict[str, int]:
    try:
        weights = tomllib.loads(path.read_text(encoding="utf-8"))["weights"]
    except (OSError, tomllib.TOMLDecodeError, KeyError) as error:
        raise UsageError(f"mix file {path} must be TOML with a [weights] table ({error})") from None
    if not weights or not all(isinstance(w, int) and w > 0 for w in weights.values()):
        raise UsageError(f"mix file {path}: every weight must be a positive integer")
    return dict(weights)


def _up(url: str, key: str = "") -> bool:
    try:
        return httpx.get(url, timeout=2, headers={"Authorization": f"Bearer {key}"} if key else {}).status_code == 200
    except httpx.TransportError:
        return False


def _store(store: Path) -> Path:
    if not any(store.glob("*.mar")):
        raise UsageError(f"no .mar archives in {store} to start a stack with (run `make archive`)")
    return store


def run(args: argparse.Namespace) -> int:
    """One Locust run against the stack at --host, the default one, or one started for the run."""
    spec = LoadSpec(args.users, args.spawn_rate, args.duration, args.target, tuple(args.models), args.mix)
    folder = args.reports or Path("reports") / f"loadtest-{args.target}-{time.strftime('%Y%m%d-%H%M%S')}"
    with ExitStack() as stack:
        host, key = _running(args)
        if host is None:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="loadtest-")))
            key = os.environ.get("LOADTEST_API_KEY", "")
            started = stack.enter_context(local_stack(_store(args.store), work, api_key=key))
            host = started.gateway_url if args.target == "gateway" else started.torchserve_url
            key = key if args.target == "gateway" else started.torchserve_key
            print(f"started TorchServe and the gateway for this run ({host})", flush=True)
        payloads = None
        if args.target == "torchserve":  # TorchServe has no model pages to read examples from
            models = list(args.models) or list(_mix(args.mix))
            folder.mkdir(parents=True, exist_ok=True)
            payloads = locust_run.payload_file(_store(args.store), models, folder)
        outcome = locust_run.run(spec, host, key, folder, args.slo, payloads)
    return _verdict(outcome)


def _running(args: argparse.Namespace) -> tuple[str | None, str]:
    """(URL, key) of the server to load when one answers, else (None, "")."""
    key = os.environ.get("LOADTEST_API_KEY", "")
    if args.host:
        if not _up(f"{args.host.rstrip('/')}/ping" if args.target == "torchserve" else f"{args.host}/livez", key):
            raise UsageError(f"nothing answers at {args.host}")
        return args.host.rstrip("/"), key
    if args.target == "gateway":
        settings = GatewaySettings()
        url = f"http://{settings.gateway_host}:{settings.gateway_port}"
        return (url, key or next(iter(settings.api_keys()), "")) if _up(f"{url}/readyz") else (None, "")
    model_server = ModelServerSettings()
    if (model_server.ts_home / "key_file.json").is_file():
        key = key or read_keys(model_server.ts_home).inference
        if _up(f"{model_server.inference_url}/ping", key):
            return model_server.inference_url, key
    return None, ""


def _verdict(outcome: locust_run.Outcome) -> int:
    total = outcome.summary["total"]
    assert isinstance(total, dict)
    print(f"{total['requests']} requests, {total['failures']} failed, {total['requests_per_s']} req/s; "
          f"reports in {outcome.folder}")
    for line in outcome.violations:
        print(f"FAIL {line}")
    return FAILURE if outcome.violations else 0


def main(argv: list[str] | None = None) -> int:
    """Parse, check and carry out one command. SIGTERM and Ctrl-C stop it cleanly: the servers it started (TorchServe,
    the gateway, the peers) and Locust are stopped on the way out, never left running."""
    try:
        with signals_terminate(signal.SIGTERM, signal.SIGINT):
            return _command(argv)
    except Terminated as received:
        print(f"error: {received}: stopped, with the servers this command started", file=sys.stderr)
        return received.exit_code


def _command(argv: list[str] | None) -> int:
    try:
        args = build_parser().parse_args(argv)
        _check(args)
        if args.command == "run":
            return run(args)
        if args.command == "soak":
            import loadtests.soak  # imported on demand: each command loads only what it needs

            return loadtests.soak.main(args)
        if args.command == "runtimes":
            import loadtests.runtimes

            return loadtests.runtimes.main(args)
        if args.command == "sweep":
            import loadtests.sweep

            return loadtests.sweep.main(args)
        import loadtests.bench

        return loadtests.bench.main(args)
    except (UsageError, InvalidSetup) as error:
        print(f"error: {error}", file=sys.stderr)
        return USAGE_ERROR
    except ModelServerError as error:  # the stack this command started did not come up; the message says why
        print(f"error: {error}", file=sys.stderr)
        return FAILURE


if __name__ == "__main__":
    raise SystemExit(main())
