"""`python -m serving.admin`: register, scale, route and unregister model versions through the gateway's admin API.

The admin key comes from $GATEWAY_ADMIN_KEY or --key-file (never the command line, where shells keep it).
Exit 0 on success, 2 with one line on bad input (the API's 4xx included), 1 when the action failed otherwise."""

import json
import os
import sys
from pathlib import Path

import httpx

from serving.admin.client import AdminClient, AdminError
from serving.cli import FAILURE, USAGE_ERROR, Parser, UsageError
from serving.versions import is_valid


def build_parser() -> Parser:
    """The CLI's parser."""
    parser = Parser(prog="python -m serving.admin", description=__doc__)
    parser.add_argument("--url", default=os.environ.get("GATEWAY_URL", "http://127.0.0.1:8000"),
                        help="the gateway (default: $GATEWAY_URL or http://127.0.0.1:8000)")
    parser.add_argument("--key-file", type=Path, help="a file holding the admin key (default: $GATEWAY_ADMIN_KEY)")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    sub.add_parser("list", help="every model's versions, default and policy")
    register = sub.add_parser("register", help="register an archive of the model store, by file name")
    register.add_argument("archive", help="e.g. mlp_classifier-1.1.mar")
    register.add_argument("--workers", type=_count, default=1)
    workers = sub.add_parser("workers", help="set a version's workers")
    workers.add_argument("model")
    workers.add_argument("version", type=_version)
    workers.add_argument("workers", type=_count)
    unregister = sub.add_parser("unregister", help="drain a version, then unregister it")
    unregister.add_argument("model")
    unregister.add_argument("version", type=_version)
    policy = sub.add_parser("policy", help="set a model's traffic policy")
    policy.add_argument("model")
    policy.add_argument("--default", required=True, type=_version, help="the version that answers by default")
    policy.add_argument("--canary", type=_split, metavar="VERSION:PERCENT", help="e.g. 1.1:10")
    policy.add_argument("--shadow", type=_split, metavar="VERSION:PERCENT", help="mirror a share to a version")
    for action in ("promote", "rollback"):
        sub.add_parser(action, help=f"{action} the model's canary").add_argument("model")
    return parser


def main(argv: list[str] | None = None, http: httpx.Client | None = None) -> int:
    """Run one admin action; `http` replaces the HTTP client (tests)."""
    try:
        args = build_parser().parse_args(argv)
        key = _key(args.key_file)
        with http or httpx.Client(base_url=args.url, timeout=300) as client:
            result = _run(AdminClient(client, key), args)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return USAGE_ERROR
    except AdminError as error:
        print(f"error: {error}", file=sys.stderr)
        return USAGE_ERROR if 400 <= error.status < 500 else FAILURE
    print(json.dumps(result, indent=2, sort_keys=True))
    return 0


def _run(client: AdminClient, args: object) -> dict[str, object]:
    a = vars(args)
    command = a["command"]
    if command == "list":
        return client.models()
    if command == "register":
        return client.register(a["archive"], a["workers"])
    if command == "workers":
        return client.set_workers(a["model"], a["version"], a["workers"])
    if command == "unregister":
        return client.unregister(a["model"], a["version"])
    if command == "policy":
        spec: dict[str, object] = {"default": a["default"]}
        for name in ("canary", "shadow"):
            if a[name] is not None:
                spec[name] = a[name]
        return client.set_policy(a["model"], spec)
    return client.promote(a["model"]) if command == "promote" else client.rollback(a["model"])


def _key(key_file: Path | None) -> str:
    if key_file is not None:
        try:
            key = key_file.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise UsageError(f"cannot read the admin key file {key_file}: {error.strerror}") from None
    else:
        key = os.environ.get("GATEWAY_ADMIN_KEY", "").strip()
    if not key:
        raise UsageError("no admin key: set GATEWAY_ADMIN_KEY or pass --key-file")
    return key


def _count(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 64:
        raise UsageError(f"a worker count is a whole number from 1 to 64, got {text[:20]!r}")
    return int(text)


def _version(text: str) -> str:
    if not is_valid(text):
        raise UsageError(f"version {text[:40]!r} must be numbers and letters separated by dots, e.g. 1.1")
    return text


def _split(text: str) -> dict[str, object]:
    version, sep, percent = text.rpartition(":")
    try:
        share = float(percent)
    except ValueError:
        share = -1.0
    if not sep or not is_valid(version) or not 0 <= share <= 100:
        raise UsageError(f"a split is VERSION:PERCENT with a percent from 0 to 100, e.g. 1.1:10; got {text[:40]!r}")
    return {"version": version, "percent": share}


if __name__ == "__main__":
    raise SystemExit(main())
