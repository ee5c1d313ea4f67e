"""The tabular classification handler: feature rows in, label names and the module's probabilities out."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from handlers.classification import ClassificationHandler
from tests.unit.handlers import harness
from tests.unit.handlers.cases import BAD_FEATURE_ROWS

LABELS = ["neg", "pos"]


model_dir, worker, module = harness.kind_fixtures("tabular-classification", ClassificationHandler)


def _expected(module: Any, rows: list[list[float]]) -> tuple[list[str], list[list[float]]]:
    probabilities = module(torch.tensor(rows, dtype=torch.float32))
    return [LABELS[i] for i in probabilities.argmax(dim=1).tolist()], probabilities.tolist()


def test_the_fixture_model_predicts_both_labels(module: Any) -> None:
    labels, _ = _expected(module, [[3, 3, 3], [-3, -3, -3]])
    assert sorted(labels) == LABELS  # otherwise the label tests below could not tell labels apart


def test_one_row_gets_its_label_and_probabilities(worker: harness.Worker, module: Any) -> None:
    for row in ([3, 3, 3], [-3, -3, -3]):
        (reply,) = worker.handle([{"body": {"features": row}}])
        labels, probabilities = _expected(module, [row])
        assert (reply.status, reply.content_type) == (200, "application/json")
        assert reply.json() == {"label": labels[0], "probabilities": pytest.approx(probabilities[0], abs=1e-6)}
        assert sum(reply.json()["probabilities"]) == pytest.approx(1.0, abs=1e-6)


def test_several_rows_get_lists(worker: harness.Worker, module: Any) -> None:
    rows = [[3, 3, 3], [-3, -3, -3], [0.1, 0.2, 0.3]]
    (reply,) = worker.handle([{"body": {"features": rows}}])
    labels, probabilities = _expected(module, rows)
    body = reply.json()
    assert body["label"] == labels
    assert body["probabilities"] == [pytest.approx(p, abs=1e-6) for p in probabilities]
    assert [sum(p) for p in body["probabilities"]] == pytest.approx([1.0] * 3, abs=1e-6)
    assert set(body) == {"label", "probabilities"}


@pytest.mark.parametrize(("row", "phrase"), BAD_FEATURE_ROWS)
def test_bad_input_is_refused_with_400(worker: harness.Worker, row: Any, phrase: str) -> None:
    (reply,) = worker.handle([row])
    assert phrase in reply.error(400)


def test_bad_requests_in_a_batch_fail_alone(worker: harness.Worker, module: Any) -> None:
    replies = worker.handle([
        {"body": {"features": [3, 3, 3]}},
        {"body": {"features": [1, float("nan"), 3]}},
        {"body": {"features": [[-3, -3, -3], [0, 0, 0]]}},
        {"body": [1, 2, 3]},
    ])
    assert [r.status for r in replies] == [200, 400, 200, 400]
    labels, probabilities = _expected(module, [[3, 3, 3]])
    assert replies[0].json() == {"label": labels[0], "probabilities": pytest.approx(probabilities[0], abs=1e-6)}
    labels, probabilities = _expected(module, [[-3, -3, -3], [0, 0, 0]])
    assert replies[2].json() == {"label": labels, "probabilities": [pytest.approx(p, abs=1e-6) for p in probabilities]}
    assert replies[1].error(400) == "'features[1]' must be finite and within float32 range, got nan"
    assert replies[3].error(400) == "the JSON body must be an object, not a list"
