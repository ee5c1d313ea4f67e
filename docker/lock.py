"""The lock: requirements.lock pins every distribution the project installs, resolved from pyproject.toml.

    python docker/lock.py            # re-resolve requirements.lock (what `make lock` runs; seconds with uv)
    python docker/lock.py --check    # exit 1, saying why, if the lock does not match pyproject.toml

pyproject.toml keeps ranges (`fastapi>=0.115`); the lock holds the one set resolved from them, main and test
dependencies together, for CPython 3.11 on x86_64 Linux (CI and the images). Every install reads it as pip
constraints: `make setup` (`pip install -c requirements.lock -e '.[test]'`), CI through `make`, and each image
through docker/install.py, so a fresh machine gets the versions the tests ran with, not whatever is newest.

The resolution is uv's (`uv pip compile`) with pip's own index settings passed on (its find-links and extra
indexes, e.g. wheels that lie on this machine's disk) and pip's rule of the best version across all indexes, so
it picks what `pip install` would. The lock's header records a digest of the dependency tables it was resolved
from; `--check` and the tests refuse a lock whose digest or pins no longer match pyproject.toml.
Standard library only, but for uv (a test dependency) and, for `--check`, `packaging`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
LOCK = ROOT / "requirements.lock"
EXTRAS = ("test",)
PYTHON_VERSION = "3.11"
PLATFORM = "x86_64-manylinux_2_28"  # the images' and CI's platform
DIGEST_LINE = "# pyproject-dependencies-sha256: "


def dependency_tables(pyproject: Path = PYPROJECT) -> dict[str, Any]:
    """What the resolution depends on: requires-python, the dependencies and the locked extras."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    optional = project.get("optional-dependencies", {})
    return {"requires-python": project.get("requires-python", ""), "dependencies": project.get("dependencies", []),
            **{extra: optional.get(extra, []) for extra in EXTRAS}}


def digest(pyproject: Path = PYPROJECT) -> str:
    """sha256 of the dependency tables (not of the whole file: editing the ruff settings keeps the lock valid)."""
    canonical = json.dumps(dependency_tables(pyproject), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def pip_index_options(python: str = sys.executable) -> list[str]:
    """pip's configured find-links and indexes (files and environment) as uv options."""
    listed = subprocess.run([python, "-m", "pip", "config", "list"], capture_output=True, text=True, check=True)
    chosen: dict[tuple[str, str], None] = {}  # ordered and without repeats (a file and the environment may agree)
    for line in listed.stdout.splitlines():
        match = re.fullmatch(r"[^.]*\.(find-links|extra-index-url|index-url)='(.*)'", line.strip())
        if match is not None:
            chosen.update({(f"--{match.group(1)}", value): None for value in match.group(2).split()})
    return [part for option in chosen for part in option]


def compile_command(output: Path, python: str = sys.executable) -> list[str]:
    """The uv command that writes the pins of pyproject.toml's resolution to `output`."""
    extras = [option for extra in EXTRAS for option in ("--extra", extra)]
    return [python, "-m", "uv", "pip", "compile", str(PYPROJECT), *extras, "--python-version", PYTHON_VERSION,
            "--python-platform", PLATFORM, "--index-strategy", "unsafe-best-match", *pip_index_options(python),
            "--no-header", "--no-annotate", "--quiet", "--output-file", str(output)]


def header(pyproject: Path = PYPROJECT) -> str:
    """The lock's first lines: what it is, how to refresh it, and the digest it was resolved from."""
    return ("# Every distribution the project installs, resolved from pyproject.toml (main and test dependencies)\n"
            f"# for CPython {PYTHON_VERSION} on {PLATFORM}. Do not edit: `make lock` rewrites it (docker/lock.py).\n"
            f"{DIGEST_LINE}{digest(pyproject)}\n")


def write_lock(lock: Path = LOCK) -> None:
    """Resolve pyproject.toml again and write the lock (atomically: a failed resolution keeps the old one)."""
    pins = lock.with_name(lock.name + ".new")
    try:
        subprocess.run(compile_command(pins), check=True)
        pins.write_text(header() + pins.read_text(encoding="utf-8"), encoding="utf-8")
        pins.replace(lock)
    finally:
        pins.unlink(missing_ok=True)


def locked_versions(lock: Path = LOCK) -> dict[str, str]:
    """The lock's pins by normalized name: `{"fastapi": "0.136.1", ...}`."""
    pins = {}
    for line in lock.read_text(encoding="utf-8").splitlines():
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)(\s*;.*)?", line.strip())
        if match is not None:
            pins[_normalize(match.group(1))] = match.group(2)
    return pins


def problems(pyproject: Path = PYPROJECT, lock: Path = LOCK) -> list[str]:
    """Why the lock does not match pyproject.toml (empty when it does): a stale digest, and every direct
    requirement that the lock lacks or pins outside its specifier."""
    from packaging.requirements import Requirement  # only the check needs it (the images' install does not)

    if not lock.is_file():
        return [f"{lock.name} is missing: run `make lock`"]
    found: list[str] = []
    recorded = next((line[len(DIGEST_LINE):].strip() for line in lock.read_text(encoding="utf-8").splitlines()
                     if line.startswith(DIGEST_LINE)), None)
    if recorded != digest(pyproject):
        found.append(f"{lock.name} was not resolved from this pyproject.toml's dependencies: run `make lock`")
    pins = locked_versions(lock)
    tables = dependency_tables(pyproject)
    for requirement in [*tables["dependencies"], *(r for extra in EXTRAS for r in tables[extra])]:
        wanted = Requirement(requirement)
        name = _normalize(wanted.name)
        if name not in pins:
            found.append(f"{wanted.name} ({requirement}) is not in {lock.name}")
        elif not wanted.specifier.contains(pins[name], prereleases=True):
            found.append(f"{lock.name} pins {name}=={pins[name]}, outside {requirement}")
    return found


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def main(argv: list[str] | None = None) -> int:
    """Write the lock, or with --check say what is wrong with it."""
    parser = argparse.ArgumentParser(prog="python docker/lock.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="check the lock against pyproject.toml, write nothing")
    args = parser.parse_args(argv)
    if args.check:
        found = problems()
        for problem in found:
            print(f"error: {problem}", file=sys.stderr)
        return 1 if found else 0
    try:
        write_lock()
    except subprocess.CalledProcessError as error:
        print(f"error: uv could not resolve pyproject.toml (exit {error.returncode}); the lock is unchanged",
              file=sys.stderr)
        return 1
    print(f"wrote {LOCK.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
