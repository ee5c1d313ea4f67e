"""The training CLI as a user meets it: bad input gives one line and exit code 2, never a traceback."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from tests.conftest import run_cli


def _one_line_error(result, needle: str) -> None:  # type: ignore[no-untyped-def]
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert needle in lines[0]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["train", "no_such_model"], "unknown model 'no_such_model'"),
        (["train", "cnn_digits", "--profile", "turbo"], "invalid choice: 'turbo'"),
        (["train", "cnn_digits", "--dataset", "mnist", "--data-dir", "/nonexistent/data"], "not found"),
        (["train", "cnn_digits", "--dataset", "mnist"], "needs --data-dir"),
        (["train", "char_rnn", "--dataset", "mnist", "--data-dir", "."], "applies to image classifiers"),
        (["train", "cnn_digits", "--set", "no_such_knob=1"], "unknown hyperparameter"),
        (["train", "cnn_digits", "--set", "oops"], "KEY=VALUE"),
        (["train", "cnn_digits", "--device", "tpu"], "bad --device"),
        (["tune", "cnn_digits", "--trials", "0"], "must be at least 1"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], needle: str) -> None:
    _one_line_error(run_cli(*args), needle)


def test_empty_local_dataset_directory_is_a_clean_error(tmp_path: Path) -> None:
    _one_line_error(run_cli("train", "cnn_digits", "--dataset", "mnist", "--data-dir", str(tmp_path)), "MNIST/raw")


def test_list_names_every_model() -> None:
    result = run_cli("list")
    assert result.returncode == 0
    names = [line.split()[0] for line in result.stdout.splitlines()]
    assert names == ["linear_regression", "logistic_regression", "mlp_classifier", "cnn_digits", "char_rnn",
                     "transfer_cnn", "dcgan_digits", "dqn_cartpole"]


def _write_idx(path: Path, magic: int, dims: tuple[int, ...], payload: bytes) -> None:
    path.write_bytes(struct.pack(f">I{len(dims)}I", magic, *dims) + payload)


def test_trains_cnn_on_a_local_mnist_folder(tmp_path: Path) -> None:
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for prefix, n in (("train", 40), ("t10k", 10)):
        pixels = bytes((i * 7 + j) % 256 for i in range(n) for j in range(28 * 28))
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", 2051, (n, 28, 28), pixels)
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", 2049, (n,), bytes(i % 10 for i in range(n)))
    out = tmp_path / "artifacts"
    result = run_cli("train", "cnn_digits", "--dataset", "mnist", "--data-dir", str(tmp_path / "data"),
                     "--artifacts", str(out), "--set", "epochs=1", "--quiet", "--runtimes", "onnx")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "n/a (other dataset)" in result.stdout
    signature = json.loads((out / "cnn_digits" / "signature.json").read_text())
    assert signature["inputs"][0]["shape"] == [-1, 1, 28, 28]
    assert signature["dataset"] == "mnist"
    assert sorted(signature["runtimes"]) == ["onnx", "torchscript"]  # --runtimes onnx: no AOTInductor compile
    # and the explanation program, as ONNX Runtime has no gradients
    assert sorted(p.name for p in (out / "cnn_digits").glob("model.*")) == ["model.explain.pt2", "model.onnx",
                                                                            "model.pt"]
    assert signature["labels"][0] == "0 - zero"
    assert json.loads((out / "cnn_digits" / "metrics.json").read_text())["floor"]["applies"] is False


def test_transfer_accepts_local_pretrained_weights(tmp_path: Path) -> None:
    import torch
    import torchvision

    weights = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), weights)
    out = tmp_path / "artifacts"
    result = run_cli("train", "transfer_cnn", "--pretrained-weights", str(weights), "--artifacts", str(out),
                     "--set", "head_epochs=1", "--set", "finetune_epochs=1", "--set", "scratch_epochs=1", "--quiet")
    assert result.returncode in (0, 1), result.stderr[-2000:]  # 1: a one-epoch run may miss the floor
    signature = json.loads((out / "transfer_cnn" / "signature.json").read_text())
    assert signature["pretrained_from"] == "resnet18.pth"


def test_missing_pretrained_weights_file_is_a_clean_error(tmp_path: Path) -> None:
    _one_line_error(run_cli("train", "transfer_cnn", "--pretrained-weights", str(tmp_path / "nope.pth")), "not found")


def test_tune_writes_a_table_of_trials(tmp_path: Path) -> None:
    result = run_cli("tune", "logistic_regression", "--trials", "2", "--report", str(tmp_path), "--quiet")
    assert result.returncode == 0, result.stderr[-2000:]
    table = (tmp_path / "logistic_regression.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| lr")]
    assert len(rows) == 2
    assert sum("best" in row for row in rows) == 1
    assert "validation split" in table
