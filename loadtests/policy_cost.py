"""What the traffic policy costs per request, in-process: the gateway's lifecycle step (pick the version, count it
in flight and by version, the outage gate, the shadow copy) around a model server that answers at once.

    python -m loadtests.policy_cost [--requests 20000] [--rounds 5]

Three policies, run in interleaved rounds so that a busy machine slows each alike: default only, a 10 % canary,
and a 10 % canary with a 10 % shadow (the shadow's copies included, each compared with its answer), beside the
bare call without the lifecycle step. Prints a
Markdown table of CPU microseconds per request (the process's CPU time, so that other processes on a shared
machine do not count; median of the rounds) for docs/benchmarks.md."""

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from prometheus_client import CollectorRegistry

from serving.gateway.core.catalog import Catalog, ModelEntry
from serving.gateway.core.lifecycle.control import Lifecycle
from serving.gateway.core.lifecycle.metrics import VersionMetrics
from serving.gateway.core.lifecycle.outage import OutageGate
from serving.gateway.core.lifecycle.policy import ModelPolicy, Split, TrafficPolicy
from serving.gateway.core.lifecycle.runtime import LifecycleRuntime
from serving.gateway.core.lifecycle.shadow import ShadowMirror
from serving.gateway.core.upstream import UpstreamResponse

POLICIES = {
    "default only": TrafficPolicy(),
    "canary 10 %": TrafficPolicy({"m": ModelPolicy("1.0", Split("1.1", 10.0))}),
    "canary 10 % + shadow 10 %": TrafficPolicy({"m": ModelPolicy("1.0", Split("1.1", 10.0), Split("1.2", 10.0))}),
}
ANSWER = UpstreamResponse(b'{"label": "3", "probabilities": [0.1, 0.9]}', "application/json", 0.0)


async def answer_at_once(target: str, body: bytes, content_type: str, accept: str | None,
                         request_id: str | None) -> UpstreamResponse:
    """A model server with no latency: what is left is the gateway's own work."""
    return ANSWER


def runtime(policy: TrafficPolicy) -> LifecycleRuntime:
    """The lifecycle as the gateway builds it, over a catalog of `m` 1.0, 1.1 and 1.2."""
    entries = [ModelEntry("m", "regression", v, {}, {}, "") for v in ("1.0", "1.1", "1.2")]
    catalog = Catalog(entries)
    catalog.set_default("m", "1.0")

    async def never_called(method: str, path: str) -> tuple[int, str]:
        raise AssertionError("no management call on the request path")

    async def live(target: str) -> bool:
        return True

    control = Lifecycle(catalog, Path(tempfile.gettempdir()), never_called, policy=policy)
    metrics = VersionMetrics(CollectorRegistry())
    return LifecycleRuntime(control, OutageGate(live), ShadowMirror(metrics.shadow_verdict, 64), metrics)


async def bare_us(requests: int) -> float:
    """Microseconds per request for the call alone, without the lifecycle step: the table's zero."""
    started = time.process_time()
    for _ in range(requests):
        await answer_at_once("m", b"{}", "application/json", None, None)
    return (time.process_time() - started) / requests * 1e6


async def per_request_us(policy: TrafficPolicy, requests: int) -> float:
    """Microseconds per request through pick and call, the shadow copies' work included."""
    lifecycle = runtime(policy)
    started = time.process_time()
    for i in range(requests):
        entry = lifecycle.pick("m", None, f"user-{i % 1000}")
        await lifecycle.call(entry, answer_at_once, b"{}", "application/json", None, None, None)
        if lifecycle.mirror.in_flight() > 32:
            await asyncio.sleep(0)  # let the copies run, as the event loop would between requests
    while lifecycle.mirror.in_flight():
        await asyncio.sleep(0)
    return (time.process_time() - started) / requests * 1e6


def main(argv: list[str] | None = None) -> int:
    """Run the rounds and print the table."""
    parser = argparse.ArgumentParser(prog="python -m loadtests.policy_cost", description=__doc__)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    results: dict[str, list[float]] = {"no lifecycle step": [], **{name: [] for name in POLICIES}}
    for _ in range(args.rounds):
        results["no lifecycle step"].append(asyncio.run(bare_us(args.requests)))
        for name, policy in POLICIES.items():
            results[name].append(asyncio.run(per_request_us(policy, args.requests)))
    base = statistics.median(results["no lifecycle step"])
    print("| policy | CPU µs per request (median of rounds) | over no lifecycle step |")
    print("|---|---|---|")
    for name, values in results.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.1f} | {median - base:+.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
