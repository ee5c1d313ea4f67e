"""`python -m serving.archive`: one .mar per artifact folder into the model store."""

import sys
from pathlib import Path

from serving.archive.builder import RUNTIMES, ArchiveError, build
from serving.cli import USAGE_ERROR, Parser, UsageError


def main(argv: list[str] | None = None) -> int:
    """Archive every model under --artifacts (or the named ones) into --store; bad input: one line, exit 2."""
    try:
        return _archive(argv)
    except (UsageError, ArchiveError) as error:
        print(f"error: {error}", file=sys.stderr)
        return USAGE_ERROR


def _archive(argv: list[str] | None) -> int:
    parser = Parser(prog="python -m serving.archive", description=__doc__)
    parser.add_argument("models", nargs="*", help="model names (default: every folder with a signature.json)")
    parser.add_argument("--artifacts", type=Path, default=Path("artifacts"))
    parser.add_argument("--store", type=Path, default=Path("model_store"))
    parser.add_argument("--version", help="archive as this version, into <name>-<version>.mar, to serve it beside "
                        "the model's other versions (default: the signature's version, into <name>.mar)")
    parser.add_argument("--device-type", choices=("auto", "cpu", "gpu"), default="auto",
                        help="deviceType in model-config.yaml (auto: gpu when CUDA is available here)")
    parser.add_argument("--runtime", choices=RUNTIMES, default=None,
                        help="the runtime each archive serves (default: each model's, from the registry)")
    args = parser.parse_args(argv)
    if not args.artifacts.is_dir():
        parser.error(f"artifacts folder not found: {args.artifacts} (run `make export`)")
    folders = ([args.artifacts / m for m in args.models] if args.models
               else sorted(p.parent for p in args.artifacts.glob("*/signature.json")))
    if not folders:
        parser.error(f"no artifact folders under {args.artifacts}")
    device_type = args.device_type
    if device_type == "auto":
        import torch

        device_type = "gpu" if torch.cuda.is_available() else "cpu"
    for folder in folders:
        result = build(folder, args.store, device_type, version=args.version, runtime=args.runtime)
        print(f"{result.name:22s} {result.kind:24s} v{result.version} {result.runtime:11s} → {result.path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
