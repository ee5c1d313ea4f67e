"""Imported at start-up by every Python process started with this folder on PYTHONPATH (the no-TorchScript stack
test puts it there for TorchServe and so for its workers): torch.jit.load, torch.jit.script and torch.jit.trace
raise, as they would once TorchScript is removed, and the process says so on stderr (the worker's log)."""

import sys

import torch.jit

MESSAGE = "TorchScript is unavailable in this process (tests/integration/no_torchscript)"


def _removed(*args: object, **kwargs: object) -> None:
    raise RuntimeError(MESSAGE)


torch.jit.load = torch.jit.script = torch.jit.trace = _removed  # type: ignore[assignment]
print(f"sitecustomize: {MESSAGE}", file=sys.stderr, flush=True)
