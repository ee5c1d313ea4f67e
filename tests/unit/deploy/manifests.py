"""Helpers for the deployment tests: render kustomizations with the test extra's kubectl, read the Dockerfile."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
K8S = ROOT / "k8s"
KUSTOMIZATIONS = ("overlays/cpu", "overlays/gpu", "overlays/cpu-canary", "overlays/gpu-canary", "kserve",
                  "kserve-canary", "loadtest")


def tool(name: str) -> str:
    """A console script of the test extra (next to this interpreter), else one on PATH."""
    beside = Path(sys.executable).with_name(name)
    found = str(beside) if beside.is_file() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: it comes with the test extra (pip install -e '.[test]')")
    return found


@cache
def render(kustomization: str) -> tuple[dict[str, Any], ...]:
    """Every object `kubectl kustomize k8s/<kustomization>` prints."""
    result = subprocess.run([tool("kubectl"), "kustomize", str(K8S / kustomization)], capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def find(objects: tuple[dict[str, Any], ...], kind: str, name: str) -> dict[str, Any]:
    """The object of that kind whose name is `name` (ConfigMaps: `name` plus kustomize's hash suffix)."""
    for obj in objects:
        actual = obj["metadata"]["name"]
        if obj["kind"] == kind and (actual == name or re.fullmatch(rf"{re.escape(name)}-[a-z0-9]{{10}}", actual)):
            return obj
    raise AssertionError(f"no {kind} {name} in the rendered objects")


def container(objects: tuple[dict[str, Any], ...], deployment: str) -> dict[str, Any]:
    """The (only) container of a Deployment."""
    containers = find(objects, "Deployment", deployment)["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return dict(containers[0])


def container_env(objects: tuple[dict[str, Any], ...], deployment: str) -> dict[str, str]:
    """The environment a Deployment's container gets: its ConfigMaps (envFrom), then its own `env` values."""
    spec = container(objects, deployment)
    env: dict[str, str] = {}
    for source in spec.get("envFrom", []):
        env.update(find(objects, "ConfigMap", source["configMapRef"]["name"])["data"])
    env.update({item["name"]: item["value"] for item in spec.get("env", []) if "value" in item})
    return env


def named_port(spec: dict[str, Any], name: str) -> int:
    """The containerPort a port name stands for."""
    ports = {port["name"]: port["containerPort"] for port in spec.get("ports", [])}
    assert name in ports, f"container {spec['name']} has no port named {name!r} ({ports})"
    return int(ports[name])


@dataclass
class Stage:
    """One FROM … AS name stage of the Dockerfile, its base and its instructions (continuations joined)."""

    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def last(self, keyword: str) -> str | None:
        """The argument text of the stage's last instruction with that keyword."""
        found = [text for word, text in self.instructions if word == keyword]
        return found[-1] if found else None

    def exec_form(self, keyword: str) -> list[str]:
        """ENTRYPOINT/CMD as a list; fails on the shell form (it would not forward signals)."""
        text = self.last(keyword)
        assert text is not None, f"stage {self.name} has no {keyword}"
        value = json.loads(text)
        assert isinstance(value, list), f"{keyword} of {self.name} is not in exec form"
        return [str(part) for part in value]


def dockerfile_stages(path: Path = ROOT / "Dockerfile") -> dict[str, Stage]:
    """The stages by name."""
    lines, pending = [], ""
    for raw in path.read_text().splitlines():
        if raw.lstrip().startswith("#") and not pending:
            continue
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        lines.append(pending + raw)
        pending = ""
    stages: dict[str, Stage] = {}
    current: Stage | None = None
    for line in filter(str.strip, lines):
        keyword, _, rest = line.strip().partition(" ")
        if keyword.upper() == "FROM":
            base, _, name = rest.partition(" AS ")
            current = stages.setdefault(name.strip(), Stage(name.strip(), base.strip()))
        elif current is not None:
            current.instructions.append((keyword.upper(), rest.strip()))
    return stages
