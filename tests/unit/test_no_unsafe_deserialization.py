"""No code of the stack deserializes with pickle where data could come from a client: `torch.load` only with
`weights_only=True`, no pickle-family module in the serving path, no `allow_pickle=True`, no `yaml.load`.

The checks read the syntax tree of every module, so a comment or a string that mentions `pickle` does not count
and an alias (`import pickle as p`) does not hide a use."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
PACKAGES = ("training", "serving", "handlers", "loadtests")
SERVING_PATH = ("serving", "handlers")  # what runs on a request: the gateway, TorchServe's handlers
PICKLE_FAMILY = {"pickle", "_pickle", "cPickle", "dill", "cloudpickle", "joblib", "marshal", "shelve"}
# Local files the user supplies for training, in the format they ship in (CIFAR-10's python batches).
PICKLE_ALLOWED = {"training/data/local.py"}


def _sources() -> Iterator[tuple[str, str]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            yield path.relative_to(ROOT).as_posix(), path.read_text(encoding="utf-8")


def problems(relative: str, source: str) -> list[str]:
    """Every unsafe deserialization in one module's source, as `path:line: what`."""
    found: list[str] = []
    tree = ast.parse(source)
    in_serving_path = relative.startswith(SERVING_PATH)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            modules = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for module in modules:
                if module.split(".")[0] in PICKLE_FAMILY and (in_serving_path or relative not in PICKLE_ALLOWED):
                    found.append(f"{relative}:{node.lineno}: imports {module}")
            if isinstance(node, ast.ImportFrom) and node.module == "torch" and any(
                    alias.name == "load" for alias in node.names):
                found.append(f"{relative}:{node.lineno}: imports torch.load by name (its keywords go unchecked)")
        if not isinstance(node, ast.Call):
            continue
        name = ast.unparse(node.func)
        keywords = {k.arg: k.value for k in node.keywords}
        if name == "torch.load" and not _is_true(keywords.get("weights_only")):
            found.append(f"{relative}:{node.lineno}: torch.load without weights_only=True")
        if name.endswith(("np.load", "numpy.load")) and _is_true(keywords.get("allow_pickle")):
            found.append(f"{relative}:{node.lineno}: {name} with allow_pickle=True")
        if name == "yaml.load" or name == "yaml.unsafe_load":
            found.append(f"{relative}:{node.lineno}: {name} (use yaml.safe_load)")
    return found


def _is_true(value: ast.expr | None) -> bool:
    return isinstance(value, ast.Constant) and value.value is True


def test_no_module_deserializes_unsafely() -> None:
    sources = dict(_sources())
    assert len(sources) > 50, "the scan found no code to check"
    assert [p for relative, source in sources.items() for p in problems(relative, source)] == []


def test_the_allowed_pickle_is_still_used_by_the_local_dataset_reader_only() -> None:
    """The allowance is no wider than the one reader it was made for (and goes when that reader stops needing it)."""
    users = {relative for relative, source in _sources() if imported(source) & PICKLE_FAMILY}
    assert users == PICKLE_ALLOWED


def imported(source: str) -> set[str]:
    """The top-level names of the modules a source imports."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize(("relative", "source", "problem"), [
    ("training/x.py", "import torch\ntorch.load(path)", "torch.load without weights_only=True"),
    ("training/x.py", "import torch\ntorch.load(path, weights_only=False)", "torch.load without weights_only=True"),
    ("training/x.py", "from torch import load", "imports torch.load by name"),
    ("serving/x.py", "import pickle as p\np.loads(body)", "imports pickle"),
    ("handlers/x.py", "from joblib import load", "imports joblib"),
    ("training/data/local.py", "import torch\ntorch.load(p)", "torch.load without"),
    ("serving/x.py", "import numpy as np\nnp.load(f, allow_pickle=True)", "np.load with allow_pickle=True"),
    ("serving/x.py", "import yaml\nyaml.load(text, Loader=yaml.Loader)", "yaml.load"),
])
def test_the_scan_catches_each_unsafe_form(relative: str, source: str, problem: str) -> None:
    assert [p for p in problems(relative, source) if problem in p]


def test_the_scan_accepts_the_safe_forms() -> None:
    safe = ("import torch, yaml, numpy as np\ntorch.load(p, map_location='cpu', weights_only=True)\n"
            "torch.jit.load(p)\nnp.load(f)\nyaml.safe_load(text)\n# import pickle\nx = 'pickle.loads(b)'\n")
    assert problems("serving/x.py", safe) == []
