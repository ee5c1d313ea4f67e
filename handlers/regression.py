"""Handler for regression models: raw feature rows → predicted values."""

from typing import Any

from handlers.tabular import ExplainedTabularHandler
from handlers.wire import Response


class RegressionHandler(ExplainedTabularHandler):
    """`{"features": [x1, …, xn]}` → `{"prediction": y}`; a list of rows → a list of predictions."""

    def predict(self, items: list[Any]) -> list[Response]:
        return [Response({"prediction": part.tolist() if many else float(part[0])})
                for part, many in self.forward_rows(items)]
