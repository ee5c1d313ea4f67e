"""Tiny TorchScript models for the handler tests, one per model kind.

Each builder writes a model directory (`model.pt` + `signature.json` shaped like the exported ones) with weights
fixed by a seed; `harness.py` runs a handler on one as TorchServe's worker would."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from training import exporters, portable
from training.export import torchscript_deprecation_silenced

BATCH_SIZE = 4
DIGITS = [str(d) for d in range(10)]
VOCAB = ["\n", " ", *"abcdefghijklmnopqrstuvwxyz", ".", ",", "!", "?", "'", "[", "]", "{", "}"]
HIDDEN = 8
LATENT = 4
MAX_NEW_TOKENS = 20


class Regressor(nn.Module):
    """features [B, 3] → prediction [B]."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(3, 1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.linear(features).squeeze(-1)


class Classifier(nn.Module):
    """rows [B, n] → class probabilities [B, k] (softmax inside, as the exported classifiers do)."""

    def __init__(self, inputs: int, classes: int) -> None:
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear = nn.Linear(inputs, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.linear(self.flatten(x)), dim=-1)


class CharModel(nn.Module):
    """tokens [B, T] and a batch-first state [B, 1, H] → logits [B, T, V] and the next state, as CharGRU."""

    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, HIDDEN)
        self.rnn = nn.GRU(HIDDEN, HIDDEN, num_layers=1, batch_first=True)
        self.head = nn.Linear(HIDDEN, vocab)

    def forward(self, tokens: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out, h = self.rnn(self.embed(tokens), state.transpose(0, 1).contiguous())
        return self.head(out), h.transpose(0, 1).contiguous()


class Generator(nn.Module):
    """digit [B] and noise [B, 4] → image [B, 1, 8, 8] in [0, 1]."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, LATENT)
        self.linear = nn.Linear(2 * LATENT, 64)

    def forward(self, digit: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        x = torch.cat([self.embed(digit), noise], dim=1)
        return torch.sigmoid(self.linear(x)).view(-1, 1, 8, 8)


def _spec(name: str, dtype: str, shape: list[int]) -> dict[str, Any]:
    return {"name": name, "dtype": dtype, "shape": shape}


def _signature(name: str, kind: str, inputs: list[dict[str, Any]], outputs: list[dict[str, Any]],
               **extra: Any) -> dict[str, Any]:
    return {"name": name, "version": "1.0", "kind": kind, "dataset": "tiny", "inputs": inputs, "outputs": outputs,
            "serving": {"batch_size": BATCH_SIZE, "max_batch_delay_ms": 5}, **extra}


def _regression() -> tuple[nn.Module, dict[str, Any]]:
    return Regressor(), _signature(
        "tiny_regression", "regression", [_spec("features", "float32", [-1, 3])],
        [_spec("prediction", "float32", [-1])], feature_names=["a", "b", "c"])


def _classification() -> tuple[nn.Module, dict[str, Any]]:
    return Classifier(3, 2), _signature(
        "tiny_classifier", "tabular-classification", [_spec("features", "float32", [-1, 3])],
        [_spec("probabilities", "float32", [-1, 2])], labels=["neg", "pos"], feature_names=["a", "b", "c"])


def _image_classification() -> tuple[nn.Module, dict[str, Any]]:
    return Classifier(64, 10), _signature(
        "tiny_digits", "image-classification", [_spec("image", "float32", [-1, 1, 8, 8])],
        [_spec("probabilities", "float32", [-1, 10])], labels=DIGITS)


def _text_generation() -> tuple[nn.Module, dict[str, Any]]:
    vocab = len(VOCAB)
    return CharModel(vocab), _signature(
        "tiny_char_rnn", "text-generation",
        [_spec("tokens", "int64", [-1, -1]), _spec("state", "float32", [-1, 1, HIDDEN])],
        [_spec("logits", "float32", [-1, -1, vocab]), _spec("next_state", "float32", [-1, 1, HIDDEN])],
        vocab=VOCAB, max_new_tokens=MAX_NEW_TOKENS, default_temperature=0.8, default_top_k=0)


def _image_generation() -> tuple[nn.Module, dict[str, Any]]:
    return Generator(), _signature(
        "tiny_gan", "image-generation",
        [_spec("digit", "int64", [-1]), _spec("noise", "float32", [-1, LATENT])],
        [_spec("image", "float32", [-1, 1, 8, 8])], labels=DIGITS, image_size=[8, 8])


def _policy() -> tuple[nn.Module, dict[str, Any]]:
    return nn.Linear(4, 2), _signature(
        "tiny_dqn", "policy", [_spec("observation", "float32", [-1, 4])], [_spec("q_values", "float32", [-1, 2])],
        actions=["push_left", "push_right"], observation_names=["x", "v", "theta", "omega"])


BUILDERS: dict[str, Callable[[], tuple[nn.Module, dict[str, Any]]]] = {
    "regression": _regression,
    "tabular-classification": _classification,
    "image-classification": _image_classification,
    "text-generation": _text_generation,
    "image-generation": _image_generation,
    "policy": _policy,
}


# Weight seeds: 6 gives the language model a greedy continuation that varies ("v?v?z?v?zzx?zneu…" rather
# than one repeated character), so greedy decoding can be told from a decoder that repeats its first choice.
SEEDS = {"text-generation": 6}


def build(kind: str, root: Path, seed: int | None = None, runtime: str = "torchscript", explanation: bool = True,
          **signature_overrides: Any) -> Path:
    """Write `root/<kind>/model.pt` (TorchScript, weights fixed by `seed`) and its signature.json, with
    `signature_overrides` set; the folder. Another `runtime` also writes its file, exported as training
    exports it (the language model as one GRU step), and the signature names it as the archive builder does;
    for a kind that explains, also its explanation program, as training and the archive add it (unless
    `explanation` is False: an archive built before the programs existed)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEEDS.get(kind, 0) if seed is None else seed)
        module, signature = BUILDERS[kind]()
    with torchscript_deprecation_silenced():
        scripted = torch.jit.script(module.eval())
    model_dir = root / (kind if runtime == "torchscript" else f"{kind}-{runtime}{'' if explanation else '-bare'}")
    model_dir.mkdir(parents=True, exist_ok=True)
    scripted.save(str(model_dir / "model.pt"))
    if runtime != "torchscript":
        signature.update(_export(module, signature, runtime, model_dir))
    if explanation and portable.needs_explanation(kind, [runtime]):
        portable.export_explanation(module, _example(signature["inputs"]), signature["inputs"], model_dir)
        signature["explanation"] = dict(portable.EXPLANATION_ENTRY)
    signature.update(signature_overrides)
    (model_dir / "signature.json").write_text(json.dumps(signature, indent=2), encoding="utf-8")
    return model_dir


def _export(module: nn.Module, signature: dict[str, Any], runtime: str, model_dir: Path) -> dict[str, Any]:
    """Export `module` to `runtime` beside model.pt; the signature fields that say it is the served one."""
    inputs = [dict(spec, shape=[-1, 1]) if spec["name"] == "tokens" else spec for spec in signature["inputs"]]
    entry = portable.RUNTIMES[runtime]
    exporters.export(runtime, module.eval(), _example(inputs), inputs, signature["outputs"], model_dir / entry.file)
    return {"runtime": runtime, "platform": entry.platform,
            "runtimes": {runtime: {"file": entry.file, "platform": entry.platform, "inputs": inputs}}}


def _example(inputs: list[dict[str, Any]]) -> tuple[torch.Tensor, ...]:
    return tuple(torch.zeros([2 if d == -1 else d for d in spec["shape"]], dtype=getattr(torch, spec["dtype"]))
                 for spec in inputs)


def load_module(model_dir: Path) -> torch.jit.ScriptModule:
    """The saved TorchScript module, loaded apart from any handler: the reference the answers must match."""
    with torchscript_deprecation_silenced():
        return torch.jit.load(str(model_dir / "model.pt"), map_location="cpu").eval()
