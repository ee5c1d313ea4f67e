"""Handler for tabular classifiers: raw feature rows → label and class probabilities."""

from typing import Any

from handlers.base import labelled
from handlers.tabular import ExplainedTabularHandler
from handlers.wire import Response


class ClassificationHandler(ExplainedTabularHandler):
    """`{"features": [x1, …, xn]}` → `{"label": name, "probabilities": [p…]}` in the signature's label order."""

    def predict(self, items: list[Any]) -> list[Response]:
        labels = self.signature["labels"]
        return [labelled(probabilities, labels, many) for probabilities, many in self.forward_rows(items)]
