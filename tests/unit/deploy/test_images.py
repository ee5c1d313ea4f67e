"""The images' build: stages, bases and what each final stage carries; docker/install.py's pins and the
distributions each image needs; the helper scripts' bad-input paths (their good paths run in
tests/integration/deploy/)."""

from __future__ import annotations

import importlib.metadata as metadata
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.unit.deploy.manifests import ROOT, dockerfile_stages

sys.path.insert(0, str(ROOT / "docker"))
import install  # noqa: E402  (docker/ is a folder of scripts, not a package)

FINAL = ("trainer", "model-server", "gateway", "loadtest")


def test_stages_and_bases() -> None:
    stages = dockerfile_stages()
    assert set(FINAL) | {"model-store", "model-server-venv", "gateway-venv", "loadtest-venv"} <= set(stages)
    assert stages["model-server"].base == stages["model-server-venv"].base == "base-${VARIANT}"
    assert (stages["base-cuda"].base, stages["base-cpu"].base) == ("${CUDA_IMAGE}", "${CPU_IMAGE}")
    text = (ROOT / "Dockerfile").read_text()
    assert "ARG VARIANT=cuda\n" in text  # the GPU build is the default


def test_cuda_base_matches_the_cuda_torch_is_built_for() -> None:
    image = re.search(r"^ARG CUDA_IMAGE=nvidia/cuda:(\d+)\.(\d+)\.\d+-runtime-", (ROOT / "Dockerfile").read_text(),
                      re.MULTILINE)
    assert image is not None
    assert install.TORCH_INDEX["cuda"].endswith(f"/cu{image.group(1)}{image.group(2)}")
    import torch

    if torch.version.cuda is not None:  # the wheel pyproject.toml pins, as installed here
        assert torch.version.cuda.split(".")[:2] == [image.group(1), image.group(2)]


def test_final_stages_carry_no_build_tools() -> None:
    stages = dockerfile_stages()
    for name in FINAL[1:]:
        text = " ".join(f"{word} {rest}" for word, rest in stages[name].instructions)
        for tool in ("--from=uv", "pip install", "install.py"):
            assert tool not in text, name
        assert not re.search(r"build-essential|gcc|g\+\+|-dev\b", text), name
    assert "COPY --from=uv /uv /usr/local/bin/uv" in " ".join(
        f"{w} {r}" for w, r in stages["model-server-venv"].instructions)


def test_each_stage_installs_its_own_target() -> None:
    stages = dockerfile_stages()
    runs = {name: " ".join(r for w, r in stage.instructions if w == "RUN") for name, stage in stages.items()}
    assert 'docker/install.py model-server --variant "$VARIANT"' in runs["model-server-venv"]
    assert "docker/install.py gateway" in runs["gateway-venv"]
    assert "docker/install.py loadtest" in runs["loadtest-venv"]
    assert "docker/install.py builder --variant cpu" in runs["model-store"]
    assert "sh docker/build-model-store.sh /build/artifacts /build/model-store" in runs["model-store"]


def test_torch_pins_come_from_pyproject() -> None:
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    torch_pins = [d for d in dependencies if re.match(r"torch(vision)?==", d)]
    for variant, index in install.TORCH_INDEX.items():
        first, *_, last = install.commands("model-server", variant, python="py")
        assert first == ["py", "-m", "pip", "install", "--no-cache-dir", "--constraint", str(install.LOCK),
                         "--index-url", index, "--no-deps", *torch_pins]
        assert last[-2:] == torch_pins  # their dependencies, from PyPI at the locked versions


def test_gateway_and_loadtest_install_no_torch() -> None:
    for target in ("gateway", "loadtest"):
        flat = " ".join(" ".join(step) for step in install.commands(target, "cuda"))
        assert "torch" not in flat, target
        assert "download.pytorch.org" not in flat, target
    assert install.commands("loadtest", "cpu", python="py") == [
        ["py", "-m", "pip", "install", "--no-cache-dir", "--constraint", str(install.LOCK),
         install.project_requirements()["locust"]]]


def test_every_install_is_constrained_by_the_lock() -> None:
    for target in install.TARGETS:
        for step in install.commands(target, "cpu", python="py"):
            assert step[5:7] == ["--constraint", str(ROOT / "requirements.lock")], (target, step)
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert dockerfile.count("COPY pyproject.toml requirements.lock README.md ./") == 5
    assert "RUN pip install --constraint requirements.lock . " in dockerfile  # the trainer


def test_install_refuses_what_pyproject_does_not_declare(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(install.TARGETS, "gateway", ("fastapi", "left-pad"))
    with pytest.raises(ValueError, match="left-pad not declared in pyproject.toml"):
        install.commands("gateway", "cuda")
    result = subprocess.run([sys.executable, str(ROOT / "docker/install.py"), "gateway", "--variant", "rocm"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert "invalid choice: 'rocm'" in result.stderr


# Runs `code` in a fresh interpreter where only the allowed distributions can be imported (plus the standard
# library and this project), as in an image that installed just those: optional imports fail as they would there.
_ISOLATED = """
import importlib.abc, importlib.metadata, json, sys
allowed = set(json.loads(sys.argv[1]))
owners = importlib.metadata.packages_distributions()
norm = lambda n: n.replace("_", "-").replace(".", "-").lower()
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        dists = {norm(d) for d in owners.get(name.split(".")[0], [])}
        if dists and not dists & allowed:
            raise ModuleNotFoundError(f"blocked: {name} ({sorted(dists)})", name=name)
        return None
sys.meta_path.insert(0, Block())
exec(sys.argv[2])
print("imported")
"""


def _imports_with_only(allowed: set[str], code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", _ISOLATED, json.dumps(sorted(allowed | {"torchserve-stack"})), code],
                          capture_output=True, text=True, check=False, cwd=ROOT, timeout=120)


def _closure(requirements: list[str]) -> set[str]:
    """The distributions `pip install REQUIREMENTS` brings, as installed here (extras and markers honoured)."""
    seen: set[str] = set()
    todo = [Requirement(r) for r in requirements]
    while todo:
        requirement = todo.pop()
        name = install.normalize(requirement.name)
        if name in seen:
            continue
        seen.add(name)
        for text in metadata.requires(requirement.name) or []:
            child = Requirement(text)
            extras = requirement.extras or {""}
            if child.marker is None or any(child.marker.evaluate({"extra": e}) for e in extras):
                todo.append(child)
    return seen


@pytest.mark.parametrize(("target", "code"), [
    ("gateway", "import serving.gateway.__main__, serving.gateway.app"),
    ("model-server", "import serving.modelserver.cli, handlers, "
                     "handlers.image_classification, handlers.text_generation, handlers.image_generation, "
                     "handlers.policy, handlers.tabular, handlers.regression, ts.model_service_worker, "
                     "handlers.runtimes, onnxruntime"),
])
def test_each_image_installs_every_distribution_its_entry_point_loads(target: str, code: str) -> None:
    project = install.project_requirements()
    wanted = install.pinned(install.TARGETS[target], project)
    if target in install.NEEDS_TORCH:
        wanted += install.pinned(install.TORCH, project)
    result = _imports_with_only(_closure(wanted), code)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "imported"


def test_the_gateway_image_copies_every_project_package_the_gateway_imports() -> None:
    code = ("import json, sys, serving.gateway.__main__, serving.gateway.app; from pathlib import Path; "
            f"root = Path({str(ROOT)!r}); print(json.dumps(sorted({{Path(m.__file__).relative_to(root).parts[0] "
            "for m in list(sys.modules.values()) if getattr(m, '__file__', None) "
            "and Path(m.__file__).is_relative_to(root)})))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    packages = [name for name in json.loads(result.stdout) if (ROOT / name / "__init__.py").is_file()]  # not .venv
    assert "serving" in packages
    copied = {rest.split()[0].rstrip("/") for word, rest in dockerfile_stages()["gateway-venv"].instructions
              if word == "COPY"}
    assert set(packages) <= copied, f"the gateway imports {packages}; the image copies {sorted(copied)}"


def test_the_isolation_catches_a_missing_distribution() -> None:
    gateway = _closure(install.pinned(install.TARGETS["gateway"], install.project_requirements()))
    assert "torch" not in gateway
    result = _imports_with_only(gateway - {"httptools"}, "import serving.gateway.app")
    assert result.returncode != 0
    assert "blocked: httptools" in result.stderr


def test_helper_scripts_refuse_bad_usage() -> None:
    script = subprocess.run(["sh", str(ROOT / "docker/build-model-store.sh"), "a", "b", "tpu"],
                            capture_output=True, text=True, check=False)
    assert script.returncode == 2
    assert "usage: sh docker/build-model-store.sh" in script.stderr
    check = subprocess.run([sys.executable, str(ROOT / "docker/healthcheck.py"), "database"],
                           capture_output=True, text=True, check=False)
    assert check.returncode == 2
    assert "usage:" in check.stderr


def test_healthcheck_reports_an_unreachable_server(tmp_path: Path) -> None:
    from tests.servers import free_ports

    env = {"PATH": "/usr/bin:/bin", "TS_INFERENCE_PORT": str(free_ports(1)[0]), "TS_PROFILE": "production",
           "TS_TOKEN_AUTH": "false", "TS_MANAGEMENT_BIND_HOST": "127.0.0.1", "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, str(ROOT / "docker/healthcheck.py"), "model-server"], env=env,
                            capture_output=True, text=True, check=False, cwd=tmp_path)
    assert result.returncode == 1
    assert "unhealthy: URLError" in result.stderr
