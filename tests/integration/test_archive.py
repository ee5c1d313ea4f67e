"""The .mar archives: complete, reproducible, and loadable where this project is not installed."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from handlers import EXPLAINED_KINDS
from serving.archive.builder import ArchiveError, build
from training import registry

MODELS = registry.names()
PROGRAM = "model.explain.pt2"


@pytest.fixture
def store(model_store: Path) -> Path:
    """The session's archives (built by tests/integration/conftest.py with the builder under test)."""
    return model_store


@pytest.mark.parametrize("name", MODELS)
def test_archive_holds_model_signature_card_config_and_every_handler_module(store: Path, name: str) -> None:
    with zipfile.ZipFile(store / f"{name}.mar") as archive:
        names = set(archive.namelist())
        manifest = json.loads(archive.read("MAR-INF/MANIFEST.json"))
        config = yaml.safe_load(archive.read("model-config.yaml"))
        signature = json.loads(archive.read("signature.json"))
    served = signature["runtimes"][signature["runtime"]]
    assert signature["runtime"] == registry.get(name).default_runtime
    assert signature["platform"] == served["platform"]
    assert {served["file"], "signature.json", "model_card.md", "metrics.json", "handler.py",
            "model-config.yaml"} <= names
    assert manifest["model"]["serializedFile"] == served["file"]
    # only the served runtime's model file travels, and the explanation program where that runtime needs it
    carried = registry.get(name).kind in EXPLAINED_KINDS and signature["runtime"] != "torchscript"
    assert names.isdisjoint({"model.pt", "model.pt2", "model.onnx", PROGRAM} - {served["file"]}
                            - ({PROGRAM} if carried else set()))
    assert (PROGRAM in names, "explanation" in signature) == (carried, carried)
    bundled = {n for n in names if n.startswith("handlers/")}
    assert bundled == {f"handlers/{p.name}" for p in Path("handlers").glob("*.py")}
    assert manifest["model"]["modelName"] == name
    assert manifest["model"]["modelVersion"] == registry.get(name).version == signature["version"]
    assert manifest["model"]["handler"] == "handler.py"
    # no modelFile: TorchServe's BaseHandler then loads the TorchScript with torch.jit.load, never its eager-model
    # path that unpickles a state dict with torch.load (without weights_only in TorchServe 0.12)
    assert "modelFile" not in manifest["model"]
    assert config["batchSize"] == registry.get(name).serving["batch_size"]
    explanation = {"explanation": "torch.export"} if carried else {}
    assert config["handler"] == {"torch_threads": registry.get(name).serving["torch_threads"],
                                 "runtime": signature["runtime"], **explanation}
    assert config["deviceType"] == "cpu"
    assert config["minWorkers"] >= 1


def test_building_twice_gives_identical_bytes(artifacts_dir: Path, store: Path, tmp_path: Path) -> None:
    again = build(artifacts_dir / "cnn_digits", tmp_path, "cpu")
    assert again.path.read_bytes() == (store / "cnn_digits.mar").read_bytes()


def test_incomplete_artifact_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "signature.json").write_text("{}")
    with pytest.raises(ArchiveError, match="missing metrics.json, model_card.md"):
        build(tmp_path / "half", tmp_path / "store", "cpu")


@pytest.mark.parametrize(("runtime", "file", "platform"), [
    ("onnx", "model.onnx", "onnxruntime_onnx"), ("aoti", "model.pt2", "pytorch_aoti"),
    ("torchscript", "model.pt", "pytorch_torchscript")])
def test_the_archive_carries_the_runtime_it_is_built_for(artifacts_dir: Path, tmp_path: Path, runtime: str,
                                                         file: str, platform: str) -> None:
    result = build(artifacts_dir / "dqn_cartpole", tmp_path, "cpu", runtime=runtime)
    with zipfile.ZipFile(result.path) as archive:
        models = {n for n in archive.namelist() if n.startswith("model.")}
        signature = json.loads(archive.read("signature.json"))
        config = yaml.safe_load(archive.read("model-config.yaml"))
        manifest = json.loads(archive.read("MAR-INF/MANIFEST.json"))
    assert models == {file}
    assert (result.runtime, signature["runtime"], signature["platform"]) == (runtime, runtime, platform)
    assert config["handler"]["runtime"] == runtime
    assert manifest["model"]["serializedFile"] == file


@pytest.mark.parametrize(("runtime", "files"), [
    ("onnx", {"model.onnx", PROGRAM}), ("aoti", {"model.pt2", PROGRAM}), ("torchscript", {"model.pt"})])
def test_an_explained_model_carries_its_program_only_beside_a_runtime_without_gradients(
        artifacts_dir: Path, tmp_path: Path, runtime: str, files: set[str]) -> None:
    result = build(artifacts_dir / "cnn_digits", tmp_path, "cpu", runtime=runtime)
    with zipfile.ZipFile(result.path) as archive:
        models = {n for n in archive.namelist() if n.startswith("model.")}
        signature = json.loads(archive.read("signature.json"))
        config = yaml.safe_load(archive.read("model-config.yaml"))
        program = archive.read(PROGRAM) if PROGRAM in models else None
    assert models == files
    if runtime == "torchscript":  # the served module gives the gradients
        assert ("explanation" in signature, "explanation" in config["handler"]) == (False, False)
    else:
        assert signature["explanation"] == {"file": PROGRAM, "format": "torch.export"}
        assert config["handler"]["explanation"] == "torch.export"
        assert program == (artifacts_dir / "cnn_digits" / PROGRAM).read_bytes()


def test_an_artifact_without_its_program_archives_without_one(artifacts_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "cnn_digits"
    folder.mkdir()
    for name in ("model.onnx", "metrics.json", "model_card.md"):
        (folder / name).write_bytes((artifacts_dir / "cnn_digits" / name).read_bytes())
    signature = json.loads((artifacts_dir / "cnn_digits" / "signature.json").read_text())
    signature.pop("explanation")  # exported before the programs existed
    (folder / "signature.json").write_text(json.dumps(signature))
    result = build(folder, tmp_path / "store", "cpu", runtime="onnx")
    with zipfile.ZipFile(result.path) as archive:
        assert {n for n in archive.namelist() if n.startswith("model.")} == {"model.onnx"}
        assert "explanation" not in json.loads(archive.read("signature.json"))
        assert "explanation" not in yaml.safe_load(archive.read("model-config.yaml"))["handler"]


def test_a_listed_program_that_is_missing_is_refused(artifacts_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "cnn_digits"
    folder.mkdir()
    for name in ("model.onnx", "signature.json", "metrics.json", "model_card.md"):
        (folder / name).write_bytes((artifacts_dir / "cnn_digits" / name).read_bytes())
    with pytest.raises(ArchiveError, match=rf"^{folder}: missing model.explain.pt2 \(run `make export` first\)$"):
        build(folder, tmp_path / "store", "cpu", runtime="onnx")


def test_a_runtime_the_artifact_lacks_is_refused(artifacts_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "old"
    folder.mkdir()
    for name in ("model.pt", "metrics.json", "model_card.md"):
        (folder / name).write_bytes((artifacts_dir / "dqn_cartpole" / name).read_bytes())
    signature = json.loads((artifacts_dir / "dqn_cartpole" / "signature.json").read_text())
    signature.pop("runtimes")  # an artifact from before the other runtimes (and their default)
    signature.pop("default_runtime")
    (folder / "signature.json").write_text(json.dumps(signature))
    with pytest.raises(ArchiveError, match=r"^dqn_cartpole has no onnx export \(it has: torchscript\)$"):
        build(folder, tmp_path / "store", "cpu", runtime="onnx")
    assert build(folder, tmp_path / "store", "cpu").runtime == "torchscript"


def test_archive_cli_refuses_an_unknown_runtime() -> None:
    result = subprocess.run([sys.executable, "-m", "serving.archive", "--runtime", "tensorrt"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: argument --runtime: invalid choice: 'tensorrt' (choose from 'torchscript', 'aoti', 'onnx')"]


def test_archive_cli_bad_input_is_one_line_exit_2(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "serving.archive", "--artifacts", str(tmp_path / "none")],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"error: artifacts folder not found: {tmp_path / 'none'} "
                                                  "(run `make export`)"]


# Imports the entry module from an extracted archive with this project's own packages made unimportable,
# then initializes the handler with TorchServe's real Context and answers one request.
_STANDALONE = r"""
import importlib.abc, json, sys
class _Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("training", "serving", "loadtests"):
            raise ImportError(f"{name} must not be needed inside an archive")
        return None
sys.meta_path.insert(0, _Block())
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
sys.path.insert(0, ".")
import handler, handlers
assert handlers.__file__.startswith(sys.argv[1]), handlers.__file__
from ts.context import Context, RequestProcessor
manifest = json.load(open("MAR-INF/MANIFEST.json"))
ctx = Context("m", sys.argv[1], manifest, 2, None, "0.12.0", model_yaml_config={})
h = handler.Handler()
h.initialize(ctx)
ctx.request_processor = [RequestProcessor({})]
print(h.handle([{"body": json.loads(sys.argv[2])}], ctx)[0].decode())
"""


def test_archive_runs_where_the_project_is_not_installed(store: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(store / "mlp_classifier.mar") as archive:
        archive.extractall(tmp_path)
    row = [13.2, 1.78, 2.14, 11.2, 100, 2.65, 2.76, 0.26, 1.28, 4.38, 1.05, 3.4, 1050]
    result = subprocess.run([sys.executable, "-c", _STANDALONE, str(tmp_path), json.dumps({"features": row})],
                            cwd=tmp_path, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["label"] == "class_0"
    assert sum(answer["probabilities"]) == pytest.approx(1.0, abs=1e-5)
