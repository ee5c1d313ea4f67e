"""Exports that outlive TorchScript: torch.export + AOTInductor (`model.pt2`), ONNX (`model.onnx`) and, for the
models whose predictions are explained, the explanation program (`model.explain.pt2`).

All three trace the eager module once with `torch.export`, every free (-1) dimension of the signature dynamic, the
batch dimension first. Tracing uses a batch of 2 or more and keeps every free length ≥ 2, because export
specialises a dimension that it sees at size 1. A file appears under its final name only once it is whole."""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn

from training.export import with_batch

TRACE_BATCH = 3


class ExportError(Exception):
    """A module that a runtime cannot export; the message is one line."""


def dynamic_shapes(inputs: Sequence[dict[str, Any]]) -> tuple[dict[int, Any], ...]:
    """For each input, its free dimensions (-1 in the resolved signature) marked dynamic."""
    return tuple({i: torch.export.Dim.DYNAMIC for i, d in enumerate(spec["shape"]) if d == -1} for spec in inputs)


def trace_inputs(example: tuple[torch.Tensor, ...], inputs: Sequence[dict[str, Any]]) -> tuple[torch.Tensor, ...]:
    """The example at TRACE_BATCH rows, every other free dimension at least 2 long."""
    tensors = list(with_batch(example, TRACE_BATCH))
    for n, spec in enumerate(inputs):
        for dim, size in enumerate(spec["shape"]):
            if dim and size == -1 and tensors[n].shape[dim] < 2:
                tensors[n] = torch.cat([tensors[n]] * 2, dim=dim)
    return tuple(tensors)


def export_program(module: nn.Module, example: tuple[torch.Tensor, ...],
                   inputs: Sequence[dict[str, Any]]) -> torch.export.ExportedProgram:
    """torch.export of the eager module, free dimensions dynamic."""
    return torch.export.export(module.eval(), trace_inputs(example, inputs), dynamic_shapes=dynamic_shapes(inputs),
                               strict=False)


def export_aoti(module: nn.Module, example: tuple[torch.Tensor, ...], inputs: Sequence[dict[str, Any]],
                target: Path) -> None:
    """model.pt2: the exported program compiled ahead of time by AOTInductor (gcc) for the CPU."""
    program = export_program(module, example, inputs)
    with _atomic(target) as partial:
        torch._inductor.aoti_compile_and_package(program, package_path=str(partial))


def export_onnx(module: nn.Module, example: tuple[torch.Tensor, ...], inputs: Sequence[dict[str, Any]],
                outputs: Sequence[dict[str, Any]], target: Path) -> None:
    """model.onnx through torch.onnx's dynamo exporter (the TorchScript-based one is deprecated with it),
    the tensors named as the signature names them, weights inside the one file."""
    with _atomic(target) as partial, _quiet_onnx():
        program = torch.onnx.export(
            module.eval(), trace_inputs(example, inputs), dynamo=True, dynamic_shapes=dynamic_shapes(inputs),
            input_names=[s["name"] for s in inputs], output_names=[s["name"] for s in outputs],
            optimize=True, verbose=False,
        )
        if program is None:
            raise ExportError("torch.onnx.export returned no program")
        program.save(str(partial), external_data=False)


def export_explanation(module: nn.Module, example: tuple[torch.Tensor, ...], inputs: Sequence[dict[str, Any]],
                       target: Path) -> None:
    """model.explain.pt2: the exported program itself, saved with torch.export.save. Loaded back
    (`torch.export.load(path).module()`) it is a differentiable module, what Integrated Gradients needs where
    the served runtime (ONNX Runtime, AOTInductor) computes forward passes only."""
    program = export_program(module, example, inputs)
    with _atomic(target) as partial:
        torch.export.save(program, str(partial))


EXPLANATION = "explanation"
# What each exported file is for (a runtime, or explanations) → its exporter.
EXPORTERS: dict[str, Callable[..., None]] = {
    "aoti": lambda module, example, inputs, outputs, target: export_aoti(module, example, inputs, target),
    "onnx": export_onnx,
    EXPLANATION: lambda module, example, inputs, outputs, target: export_explanation(module, example, inputs,
                                                                                     target),
}


def export(runtime: str, module: nn.Module, example: tuple[torch.Tensor, ...], inputs: Sequence[dict[str, Any]],
           outputs: Sequence[dict[str, Any]], target: Path) -> None:
    """Export to one runtime (or, for EXPLANATION, the explanation program); any failure becomes an ExportError
    with the first line of the cause, and nothing appears at `target`."""
    try:
        EXPORTERS[runtime](module, example, inputs, outputs, target)
    except ExportError:
        raise
    except Exception as exc:  # torch.export, Inductor, gcc and onnxscript each raise their own types
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise ExportError(f"{runtime} export failed: {type(exc).__name__}: {first}") from exc


@contextmanager
def _atomic(target: Path) -> Iterator[Path]:
    """A temporary path beside `target`, renamed onto it only when the block succeeds."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=target.suffix, dir=target.parent)
    os.close(fd)
    partial = Path(name)
    try:
        yield partial
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)


@contextmanager
def _quiet_onnx() -> Iterator[None]:
    """The dynamo exporter logs each step and warns about its own internals; export errors still raise."""
    onnx_log = logging.getLogger("torch.onnx")
    level = onnx_log.level
    onnx_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        onnx_log.setLevel(level)
