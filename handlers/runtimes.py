"""The runtimes a handler can serve a model on: TorchScript (`model.pt`), torch.export + AOTInductor
(`model.pt2`) and ONNX Runtime (`model.onnx`). Each loads into a callable that takes and returns torch
tensors exactly as the eager module did, so the kind handlers never ask which one they run.

signature.json names the served runtime (`runtime`, written by the archive builder); an artifact from before
the runtimes existed is TorchScript. onnxruntime is imported only by the ONNX loader, so a worker serving
another runtime never needs it.

A model of an explained kind served on a runtime without gradients also carries its explanation program
(signature.json's `explanation`): torch.export's program of the eager module, which loads as an ordinary
differentiable module (`load_program`), with no TorchScript involved."""

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

DEFAULT_RUNTIME = "torchscript"
# The runtimes whose callable has autograd, which Integrated Gradients needs (handlers/explaining.py): ONNX
# Runtime's session and AOTInductor's compiled graph compute forward passes only.
GRADIENT_RUNTIMES = frozenset({"torchscript"})
# The explanation program's file and format, as signature.json's `explanation` names them.
PROGRAM_FILE = "model.explain.pt2"
PROGRAM_FORMAT = "torch.export"


def load(runtime: str, path: Path, device: torch.device) -> Callable[..., Any]:
    """The model file at `path` as a callable on `device`; ValueError for a runtime no loader knows."""
    try:
        loader = LOADERS[runtime]
    except KeyError:
        raise ValueError(f"unknown runtime {runtime!r}; known: {', '.join(LOADERS)}") from None
    return loader(path, device)


def load_program(path: Path, device: torch.device) -> Callable[..., Any]:
    """The explanation program at `path` (saved by torch.export.save) as a differentiable module on `device`.

    Like model.pt and model.pt2 it unpickles its weights, so it must come from the archive the operator built,
    never from a client. The program was exported in eval mode (dropout off, BatchNorm on its running
    statistics), and a loaded program keeps that mode."""
    module: Callable[..., Any] = torch.export.load(str(path)).module().to(device)
    return module


def _torchscript(path: Path, device: torch.device) -> Callable[..., Any]:
    with warnings.catch_warnings():
        # torch 2.14 deprecates TorchScript; this loader exists for the artifacts that still use it.
        warnings.filterwarnings("ignore", category=FutureWarning, message=r".*(TorchScript|torch\.jit).*")
        module = torch.jit.load(str(path), map_location=device)  # type: ignore[no-untyped-call]
    return module.eval()  # type: ignore[no-any-return]


def _aoti(path: Path, device: torch.device) -> Callable[..., Any]:
    from torch._inductor import aoti_load_package  # imported here: only AOTInductor workers load Inductor

    compiled: Callable[..., Any] = aoti_load_package(str(path))  # the CPU build, the one export compiles
    return compiled


class OrtModule:
    """An ONNX Runtime session behind a torch-module call: tensors in, tensors (one or a tuple) out.

    It runs with as many intra-op threads as torch has (the handler sets both from `torch_threads`), one
    inter-op thread, and the CUDA execution provider when the worker was given a GPU."""

    def __init__(self, path: Path, device: torch.device) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        options.inter_op_num_threads = 1
        providers = ["CPUExecutionProvider"]
        if device.type == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        self.session = ort.InferenceSession(str(path), options, providers=providers)
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.device = device

    def __call__(self, *tensors: torch.Tensor) -> Any:
        """Run the graph; one output comes back as a tensor, several as a tuple (as the eager module)."""
        feeds = {name: t.detach().cpu().contiguous().numpy() for name, t in zip(self.input_names, tensors,
                                                                                 strict=True)}
        outputs = tuple(torch.from_numpy(o).to(self.device) for o in self.session.run(None, feeds))
        return outputs[0] if len(outputs) == 1 else outputs


LOADERS: dict[str, Callable[[Path, torch.device], Callable[..., Any]]] = {
    "torchscript": _torchscript,
    "aoti": _aoti,
    "onnx": OrtModule,
}
