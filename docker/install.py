"""Install one image's Python dependencies into the running interpreter's environment, pinned by pyproject.toml.

    python docker/install.py model-server --variant cuda   # torch/torchvision for CUDA, TorchServe, handlers
    python docker/install.py gateway                       # the FastAPI gateway: no torch
    python docker/install.py builder --variant cpu         # the whole project (trains and archives)
    python docker/install.py loadtest                      # Locust only
    python docker/install.py gateway --dry-run             # print the pip commands instead

Each target names the distributions it needs; their version specifiers come from pyproject.toml, and every
install is constrained by requirements.lock (docker/lock.py), so an image gets the very versions `make setup`
and CI install. torch and torchvision come from PyTorch's own index for the variant (without their
dependencies, which come from PyPI at the locked versions in the next step): the CUDA build matches the CUDA
base image (tests check both), the CPU build has no CUDA libraries at all.
Standard library only: this runs before anything is installed.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
TORCH_INDEX = {"cuda": "https://download.pytorch.org/whl/cu130", "cpu": "https://download.pytorch.org/whl/cpu"}
TORCH = ("torch", "torchvision")
# What each image imports at run time (tests check these lists against the modules the entry points load).
TARGETS: dict[str, tuple[str, ...]] = {
    # `python -m serving.modelserver` and TorchServe's Python workers running the handlers
    # (onnxruntime: the archives that serve model.onnx)
    "model-server": ("torchserve", "pyyaml", "pydantic-settings", "httpx", "psutil", "numpy", "pillow", "captum",
                     "onnxruntime", "orjson"),
    # `python -m serving.gateway`
    "gateway": ("fastapi", "uvicorn", "httpx", "httptools", "prometheus-client", "pydantic-settings", "psutil",
                "numpy", "pillow", "grpcio", "grpcio-health-checking", "protobuf", "orjson", "opentelemetry-api",
                "opentelemetry-sdk", "opentelemetry-exporter-otlp-proto-http"),
    "loadtest": ("locust",),
    "builder": (),  # the project with every dependency: training, export and archiving
}
NEEDS_TORCH = frozenset({"model-server", "builder"})


def normalize(name: str) -> str:
    """PEP 503 name normalization (`Pydantic_Settings` → `pydantic-settings`)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def project_requirements(pyproject: Path = ROOT / "pyproject.toml") -> dict[str, str]:
    """The project's dependencies by normalized name: `{"uvicorn": "uvicorn[standard]>=0.30", ...}`."""
    dependencies = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"]
    found = {}
    for requirement in dependencies:
        match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
        if match is None:
            raise ValueError(f"cannot read the requirement {requirement!r} in {pyproject}")
        found[normalize(match.group(1))] = requirement.strip()
    return found


def pinned(names: tuple[str, ...], requirements: dict[str, str]) -> list[str]:
    """pyproject.toml's specifier for each name; ValueError naming the first one it does not declare."""
    missing = [name for name in names if normalize(name) not in requirements]
    if missing:
        raise ValueError(f"{', '.join(missing)} not declared in pyproject.toml [project.dependencies]")
    return [requirements[normalize(name)] for name in names]


def commands(target: str, variant: str, python: str = sys.executable) -> list[list[str]]:
    """The pip commands that install `target`, in order."""
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; choose from {', '.join(TARGETS)}")
    if variant not in TORCH_INDEX:
        raise ValueError(f"unknown variant {variant!r}; choose from {', '.join(TORCH_INDEX)}")
    requirements = project_requirements()
    pip = [python, "-m", "pip", "install", "--no-cache-dir", "--constraint", str(LOCK)]
    steps = []
    torch = pinned(TORCH, requirements) if target in NEEDS_TORCH else []
    if torch:
        # PyTorch's index has the variant's build but not every locked version of torch's dependencies: those
        # come with the next step, from PyPI, and the torch installed here already satisfies its pin there.
        steps.append([*pip, "--index-url", TORCH_INDEX[variant], "--no-deps", *torch])
    if target == "builder":
        steps.append([*pip, str(ROOT), *torch])
        return steps
    if target != "loadtest":
        steps.append([*pip, "--no-deps", str(ROOT)])  # the project's own packages, nothing else
    steps.append([*pip, *pinned(TARGETS[target], requirements), *torch])
    return steps


def main(argv: list[str] | None = None) -> int:
    """Run (or print) the target's pip commands; exit 2 with one line on bad input."""
    parser = argparse.ArgumentParser(prog="python docker/install.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", choices=sorted(TARGETS))
    parser.add_argument("--variant", choices=sorted(TORCH_INDEX), default="cuda")
    parser.add_argument("--dry-run", action="store_true", help="print the commands, install nothing")
    args = parser.parse_args(argv)
    try:
        steps = commands(args.target, args.variant)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for step in steps:
        print("+ " + " ".join(step), flush=True)
        if not args.dry_run:
            subprocess.run(step, check=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
