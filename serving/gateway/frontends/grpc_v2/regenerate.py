"""Regenerate `inference_pb2.py` and `inference_pb2.pyi` from `inference.proto` (`make proto`), or check that the
checked-in files are what the .proto gives (`--check`, run by tests/unit/gateway/test_grpc_proto.py).

The module protoc writes is changed in one line: its messages go into a descriptor pool of their own instead of
protobuf's process-wide default one. tritonclient.grpc and the kserve SDK each register their own copy of the
`inference` package in the default pool, and a second copy of the same names there fails at import; the wire
format does not depend on the pool. protoc comes from grpcio-tools, pinned in pyproject.toml so that the output
is the same on every machine.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROTO = "inference.proto"
OUTPUTS = ("inference_pb2.py", "inference_pb2.pyi")
DEFAULT_POOL = "DESCRIPTOR = _descriptor_pool.Default().AddSerializedFile("
OWN_POOL = ("# A pool of this module's own: other v2 clients register the same names in the default pool.\n"
            "_POOL = _descriptor_pool.DescriptorPool()\n"
            "DESCRIPTOR = _POOL.AddSerializedFile(")


def generate(folder: Path) -> None:
    """Write the generated files into `folder`."""
    from grpc_tools import protoc  # a build tool: only this command needs it

    code = protoc.main(["protoc", f"-I{HERE}", f"--python_out={folder}", f"--pyi_out={folder}", str(HERE / PROTO)])
    if code != 0:
        raise RuntimeError(f"protoc failed on {PROTO} (exit {code})")
    module = folder / OUTPUTS[0]
    text = module.read_text(encoding="utf-8")
    if text.count(DEFAULT_POOL) != 1:
        raise RuntimeError(f"protoc's output has changed shape: no single {DEFAULT_POOL!r} to replace")
    module.write_text(text.replace(DEFAULT_POOL, OWN_POOL), encoding="utf-8")


def stale() -> list[str]:
    """The checked-in files that differ from a fresh generation (empty: up to date)."""
    with tempfile.TemporaryDirectory() as scratch:
        generate(Path(scratch))
        return [name for name in OUTPUTS
                if not (HERE / name).is_file() or (Path(scratch) / name).read_bytes() != (HERE / name).read_bytes()]


def main(argv: list[str] | None = None) -> int:
    """Regenerate, or with --check exit 1 naming the stale files."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that the checked-in files are current")
    args = parser.parse_args(argv)
    if args.check:
        outdated = stale()
        if outdated:
            print(f"error: {', '.join(outdated)} differ from {PROTO}: run `make proto`", file=sys.stderr)
            return 1
        return 0
    generate(HERE)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
