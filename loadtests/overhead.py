"""`python -m loadtests.overhead`: what the gateway costs over calling TorchServe directly.

Starts TorchServe and the gateway on free loopback ports, drives both with wrk on the same request, and
writes docs/gateway-overhead.md: p50 at 1 connection (the added latency) and requests/s at 16 connections
(the throughput ratio), medians of repeated runs, with the machine and the client's own CPU share."""

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import httpx

from loadtests.wrk import WrkResult, run, script, wrk_binary
from serving.examples import example_request
from serving.modelserver import ModelServerSettings, read_keys, start, stop


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _settings(store: Path, home: Path) -> ModelServerSettings:
    ports = {f: _free_port() for f in ("ts_inference_port", "ts_management_port", "ts_metrics_port",
                                       "ts_grpc_inference_port", "ts_grpc_management_port")}
    return ModelServerSettings.model_validate({"ts_model_store": store, "ts_home": home, **ports})


def _gateway(store: Path, model_server: ModelServerSettings, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {**os.environ, "GATEWAY_PORT": str(port), "GATEWAY_MODEL_STORE": str(store), "GATEWAY_API_KEYS": "",
           "GATEWAY_LOG_LEVEL": "WARNING", "TS_HOME": str(model_server.ts_home),
           **{f.upper(): str(getattr(model_server, f)) for f in ("ts_inference_port", "ts_management_port")}}
    process = subprocess.Popen([sys.executable, "-m", "serving.gateway"], env=env, stdout=log.open("wb"),
                               stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"the gateway did not become ready: {log.read_text()[-1500:]}")


def _median(results: list[WrkResult]) -> WrkResult:
    return WrkResult(
        requests_per_s=statistics.median(r.requests_per_s for r in results),
        p50_ms=statistics.median(r.p50_ms for r in results),
        p99_ms=statistics.median(r.p99_ms for r in results),
        errors=sum(r.errors for r in results),
        client_cpu_share=statistics.median(r.client_cpu_share for r in results),
    )


def measure(store: Path, models: list[str], seconds: int, repeats: int, work: Path) -> dict[str, dict[str, WrkResult]]:
    """Medians per model and target ('torchserve-1', 'gateway-1', 'torchserve-16', 'gateway-16')."""
    model_server = _settings(store, work / "ts")
    start(model_server)
    gateway, gateway_url = _gateway(store, model_server, work / "gateway.log")
    try:
        token = read_keys(model_server.ts_home).inference
        results: dict[str, dict[str, WrkResult]] = {}
        for model in models:
            with zipfile.ZipFile(store / f"{model}.mar") as mar:
                body = json.dumps(example_request(json.loads(mar.read("signature.json")))).encode()
            targets = {"torchserve": (f"{model_server.inference_url}/predictions/{model}",
                                      script(work, f"{model}-ts", body, "application/json", token)),
                       "gateway": (f"{gateway_url}/v1/models/{model}/predict",
                                   script(work, f"{model}-gw", body, "application/json", None))}
            results[model] = {}
            for connections in (1, 16):
                runs: dict[str, list[WrkResult]] = {name: [] for name in targets}
                for _ in range(repeats):  # interleaved, so drift in the machine hits both alike
                    for name, (url, lua) in targets.items():
                        runs[name].append(run(url, lua, connections, seconds, threads=2))
                for name, values in runs.items():
                    results[model][f"{name}-{connections}"] = _median(values)
        return results
    finally:
        gateway.terminate()
        gateway.wait(timeout=30)
        stop(model_server)


def report(results: dict[str, dict[str, WrkResult]], seconds: int, repeats: int) -> str:
    """docs/gateway-overhead.md."""
    rows = []
    for model, r in results.items():
        ts1, gw1, ts16, gw16 = r["torchserve-1"], r["gateway-1"], r["torchserve-16"], r["gateway-16"]
        rows.append(f"| `{model}` | {ts1.p50_ms:.2f} | {gw1.p50_ms:.2f} | {gw1.p50_ms - ts1.p50_ms:+.2f} | "
                    f"{ts16.requests_per_s:.0f} | {gw16.requests_per_s:.0f} | "
                    f"{gw16.requests_per_s / ts16.requests_per_s:.2f} | {gw16.p99_ms:.1f} / {ts16.p99_ms:.1f} | "
                    f"{sum(x.errors for x in r.values())} | {gw16.client_cpu_share:.0%} |")
    return "\n".join([
        "# Gateway overhead",
        "",
        "Written by `python -m loadtests.overhead`: the same v1 request sent to TorchServe directly and through "
        f"the gateway with wrk (closed loop), {seconds} s per run, median of {repeats} interleaved runs. "
        f"Machine: {os.cpu_count()} CPU cores ({platform.machine()}), Python {platform.python_version()}; "
        "TorchServe, the gateway and wrk share those cores, so these are figures for a 2-core box like CI's.",
        "",
        "| model | p50 direct, 1 conn (ms) | p50 gateway, 1 conn (ms) | added p50 (ms) | req/s direct, 16 conn | "
        "req/s gateway, 16 conn | gateway / direct | p99 gateway / direct, 16 conn (ms) | errors | wrk CPU share |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        "Targets (issue #5): added p50 ≤ 1.0 ms at 1 connection; throughput ratio ≥ 0.9 at 16 connections.",
        "",
    ])


def main(argv: list[str] | None = None) -> int:
    """Measure and write the report."""
    parser = argparse.ArgumentParser(prog="python -m loadtests.overhead", description=__doc__)
    parser.add_argument("--store", type=Path, default=Path("model_store"))
    parser.add_argument("--models", nargs="+", default=["mlp_classifier", "cnn_digits"])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("docs/gateway-overhead.md"))
    args = parser.parse_args(argv)
    try:
        wrk_binary()
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    missing = [m for m in args.models if not (args.store / f"{m}.mar").is_file()]
    if missing:
        print(f"error: no archive for {', '.join(missing)} in {args.store} (run `make archive`)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="overhead-") as tmp:
        results = measure(args.store.resolve(), args.models, args.seconds, args.repeats, Path(tmp))
    text = report(results, args.seconds, args.repeats)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(merge(args.out.read_text(encoding="utf-8") if args.out.exists() else "", text),
                        encoding="utf-8")
    print(text)
    return 0


BEGIN, END = "<!-- measured: written by python -m loadtests.overhead -->", "<!-- end measured -->"


def merge(existing: str, measured: str) -> str:
    """Replace the measured block of the report, keeping what people wrote around it (the history of
    which change moved which figure)."""
    block = f"{BEGIN}\n{measured}{END}\n"
    if BEGIN in existing and END in existing:
        before, rest = existing.split(BEGIN, 1)
        after = rest.split(END, 1)[1]
        return before + block + after.removeprefix("\n")
    return block + existing


if __name__ == "__main__":
    raise SystemExit(main())
