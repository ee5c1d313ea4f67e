"""TorchScript export with the checks every exported module must pass: parity with eager mode, batch sizes
1 and 17, and outputs shaped as the signature says."""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

PARITY_TOLERANCE = 1e-5
CHECK_BATCH_SIZES = (1, 17)


def to_torchscript(module: nn.Module, example_inputs: tuple[torch.Tensor, ...], *, trace: bool = False) -> Any:
    """Script the module (tracing only when the recipe asks: scripting keeps control flow)."""
    module = module.eval()
    with torchscript_deprecation_silenced():
        if trace:
            return torch.jit.trace(module, example_inputs)
        return torch.jit.script(module)


@contextmanager
def torchscript_deprecation_silenced() -> Iterator[None]:
    """torch 2.14 deprecates TorchScript in favour of torch.export; TorchServe 0.12 loads TorchScript, so the
    stack keeps it. Only that one FutureWarning is silenced."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, message=r".*(TorchScript|torch\.jit).*")
        yield


def as_tuple(output: Any) -> tuple[torch.Tensor, ...]:
    """A module's output as a tuple of tensors, whether it returned one or several."""
    return tuple(output) if isinstance(output, (tuple, list)) else (output,)


def with_batch(inputs: tuple[torch.Tensor, ...], batch: int) -> tuple[torch.Tensor, ...]:
    """The example inputs cut or tiled along the batch dimension to `batch` rows."""
    if any(t.shape[0] == 0 for t in inputs):
        raise ValueError("example inputs need at least one row")
    def resize(t: torch.Tensor) -> torch.Tensor:
        reps = -(-batch // t.shape[0])
        return t.repeat(reps, *([1] * (t.dim() - 1)))[:batch]

    return tuple(resize(t) for t in inputs)


@torch.inference_mode()
def check_parity(eager: nn.Module, scripted: Any, example_inputs: tuple[torch.Tensor, ...]) -> float:
    """Largest absolute difference between eager and TorchScript outputs; raises above the tolerance."""
    worst = 0.0
    expected, got = as_tuple(eager(*example_inputs)), as_tuple(scripted(*example_inputs))
    if len(expected) != len(got):
        raise AssertionError(f"TorchScript module returned {len(got)} outputs, eager {len(expected)}")
    for a, b in zip(expected, got, strict=True):
        worst = max(worst, float((a.float() - b.float()).abs().max()) if a.numel() else 0.0)
    if worst > PARITY_TOLERANCE:
        raise AssertionError(f"TorchScript output differs from eager by {worst:.3g} > {PARITY_TOLERANCE}")
    return worst


@torch.inference_mode()
def check_signature(scripted: Any, example_inputs: tuple[torch.Tensor, ...],
                    inputs: Sequence[dict[str, Any]], outputs: Sequence[dict[str, Any]]) -> None:
    """Run at each check batch size and compare dtypes and shapes with the resolved signature."""
    for spec, tensor in zip(inputs, example_inputs, strict=True):
        _match(spec, tensor, batch=tensor.shape[0], what="input")
    for batch in CHECK_BATCH_SIZES:
        result = as_tuple(scripted(*with_batch(example_inputs, batch)))
        if len(result) != len(outputs):
            raise AssertionError(f"module returned {len(result)} outputs, signature names {len(outputs)}")
        for spec, tensor in zip(outputs, result, strict=True):
            _match(spec, tensor, batch=batch, what="output")


def _match(spec: dict[str, Any], tensor: torch.Tensor, *, batch: int, what: str) -> None:
    expected = [batch if i == 0 else d for i, d in enumerate(spec["shape"])]
    ok_shape = len(expected) == tensor.dim() and all(e in (-1, s) for e, s in zip(expected, tensor.shape, strict=False))
    if not ok_shape or str(tensor.dtype).removeprefix("torch.") != spec["dtype"]:
        raise AssertionError(
            f"{what} {spec['name']!r}: got {str(tensor.dtype).removeprefix('torch.')} {list(tensor.shape)}, "
            f"signature says {spec['dtype']} {expected}"
        )
