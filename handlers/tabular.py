"""Shared parsing of row-vector kinds (tabular models, the policy): one or many rows per request, one forward
pass for the whole batch."""

from typing import Any

import torch

from handlers.base import SignatureHandler
from handlers.checks import is_batch, matrix, required, split_rows
from handlers.wire import Request

MAX_ROWS = 256


class TabularHandler(SignatureHandler):
    """`{"features": [x1, …, xn]}` or `{"features": [[…], …]}`; features raw, in the signature's order."""

    FIELD = "features"

    def setup(self) -> None:
        self.width = int(self.signature["inputs"][0]["shape"][1])

    def parse(self, request: Request) -> tuple[torch.Tensor, bool]:
        value = required(request, self.FIELD)
        return matrix(value, self.FIELD, self.width, MAX_ROWS), is_batch(value)

    def forward_rows(self, items: list[Any]) -> list[tuple[torch.Tensor, bool]]:
        """Every request's rows through the model at once; each request's outputs and whether it sent many."""
        rows = torch.cat([x for x, _ in items]).to(self.device)
        parts = split_rows(self.model(rows).cpu(), [len(x) for x, _ in items])
        return [(part, many) for part, (_, many) in zip(parts, items, strict=True)]
