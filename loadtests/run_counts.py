"""The counts every side-by-side measurement command takes (connections, seconds, rounds, warm-up), and their one
check: a count below one is one line and exit 2."""

import argparse


def add(parser: argparse.ArgumentParser, warmup_s: int) -> None:
    """--connections, --seconds, --repeats and --warmup (seconds of load before the rounds; `warmup_s` default)."""
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=warmup_s, help="seconds of load on each server before the rounds")


def check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Exit 2 with one line when a count is below one."""
    if min(args.connections, args.seconds, args.repeats, args.warmup) < 1:
        parser.exit(2, "error: --connections, --seconds, --repeats and --warmup must be at least 1\n")
