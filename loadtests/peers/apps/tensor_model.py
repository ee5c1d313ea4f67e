"""The one piece every peer's app shares: the exported TorchScript file, loaded once with one torch thread, and
a forward pass over rows of the model's input tensor. Only torch and the standard library: it runs in every
peer's venv."""

from __future__ import annotations

import os
import warnings
from typing import Any

import torch

BATCH_SIZE = 32  # the batching modes' largest batch: half the bench's top connection count
BATCH_WAIT_S = 0.002  # how long a batch waits to fill: TorchServe's best maxBatchDelay in the sweep


def settings() -> tuple[str, str, bool]:
    """(model file, model name, batching?) as the bench passes them to every peer."""
    return os.environ["PEER_MODEL_PATH"], os.environ["PEER_MODEL_NAME"], os.environ.get("PEER_MODE") == "batched"


class TensorModel:
    """The TorchScript model: rows of its input in, rows of probabilities out."""

    def __init__(self, path: str) -> None:
        torch.set_num_threads(1)  # one torch thread per peer, as every TorchServe worker of the stack runs
        with warnings.catch_warnings():  # torch deprecates TorchScript; the stack serves it on purpose
            warnings.simplefilter("ignore", FutureWarning)
            self.module = torch.jit.load(path, map_location="cpu").eval()

    def forward(self, rows: Any) -> torch.Tensor:
        """A batch (nested lists, a numpy array or a tensor, batch first) → probabilities."""
        with torch.inference_mode():
            return self.module(torch.as_tensor(rows, dtype=torch.float32))

    def predict(self, rows: Any) -> list[list[float]]:
        """`forward` as nested lists, for a JSON answer."""
        return self.forward(rows).tolist()
