"""Shared parsing of row-vector kinds (tabular models, the policy): one or many rows per request, one forward
pass for the whole batch."""

from typing import Any

import torch

from handlers import explaining
from handlers.base import SignatureHandler
from handlers.checks import is_batch, matrix, required, split_rows
from handlers.errors import InvalidInput
from handlers.wire import Request, Response

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


class ExplainedTabularHandler(TabularHandler):
    """A tabular model whose predictions are explained per feature: `{"features": …, "target": label,
    "steps": n, "baseline": [x1, …, xn]}`; the baseline defaults to all zeros."""

    def explanation(self, request: Request) -> Response:
        rows, many = self.parse(request)
        if len(rows) > explaining.MAX_ROWS:
            raise InvalidInput(f"an explanation takes at most {explaining.MAX_ROWS} rows, got {len(rows)}")
        labels = self.signature.get("labels")
        chosen = explaining.options(request.fields, labels)
        baseline = (matrix(request.fields["baseline"], "baseline", self.width, 1) if "baseline" in request.fields
                    else torch.zeros(1, self.width))
        result = explaining.integrated_gradients(self.differentiable(), rows.to(self.device),
                                                 baseline.expand(len(rows), -1).to(self.device), chosen.target,
                                                 chosen.steps)
        explained = [{**explaining.summary(result, r, labels), "attributions": result.attributions[r].tolist()}
                     for r in range(len(rows))]
        return Response({**explaining.body(explained, many, chosen.steps),
                         "feature_names": self.signature.get("feature_names"), "baseline": baseline[0].tolist()})
