"""The regression handler: feature rows in, the TorchScript module's predictions out; bad rows fail alone."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from handlers.regression import RegressionHandler
from tests.unit.handlers import harness
from tests.unit.handlers.cases import BAD_FEATURE_ROWS

model_dir, worker, module = harness.kind_fixtures("regression", RegressionHandler)


def _expected(module: Any, rows: list[list[float]]) -> list[float]:
    return module(torch.tensor(rows, dtype=torch.float32)).tolist()


def test_one_row_gets_the_module_prediction(worker: harness.Worker, module: Any) -> None:
    (reply,) = worker.handle([{"body": {"features": [0.5, -1.0, 2.0]}}])
    assert (reply.status, reply.content_type) == (200, "application/json")
    assert reply.json() == {"prediction": pytest.approx(_expected(module, [[0.5, -1.0, 2.0]])[0], abs=1e-6)}


def test_several_rows_get_a_list_of_predictions(worker: harness.Worker, module: Any) -> None:
    rows = [[0.5, -1.0, 2.0], [0.0, 0.0, 0.0], [3, 4, 5]]
    (reply,) = worker.handle([{"body": {"features": rows}}])
    assert reply.status == 200
    assert reply.json() == {"prediction": pytest.approx(_expected(module, rows), abs=1e-6)}


def test_a_single_row_in_a_list_is_answered_as_a_list(worker: harness.Worker, module: Any) -> None:
    (reply,) = worker.handle([{"body": {"features": [[1, 2, 3]]}}])
    assert reply.json() == {"prediction": pytest.approx(_expected(module, [[1, 2, 3]]), abs=1e-6)}


def test_numbers_written_as_strings_are_read_as_numbers(worker: harness.Worker, module: Any) -> None:
    (reply,) = worker.handle([{"body": {"features": ["1.5", "2", "-3e0"]}}])
    assert reply.json() == {"prediction": pytest.approx(_expected(module, [[1.5, 2, -3]])[0], abs=1e-6)}


def test_requests_through_torchserve_decoding(worker: harness.Worker, module: Any) -> None:
    replies = worker.send(
        harness.json_request({"features": [1, 2, 3]}),
        harness.raw_request(b'{"features": [[1, 2, 3], [4, 5, 6]]}'),  # an octet-stream body that is JSON
        harness.raw_request(b'{"features": [1, 2', "application/json"),  # TorchServe forwards it undecoded
        harness.raw_request(b'{"features":[NaN,1,2]}', "application/json"),  # TorchServe's json.loads reads NaN
    )
    assert [r.status for r in replies] == [200, 200, 400, 400]
    assert replies[0].json() == {"prediction": pytest.approx(_expected(module, [[1, 2, 3]])[0], abs=1e-6)}
    assert replies[1].json() == {"prediction": pytest.approx(_expected(module, [[1, 2, 3], [4, 5, 6]]), abs=1e-6)}
    assert replies[2].error(400).startswith("malformed JSON: ")
    assert replies[3].error(400) == "'features[0]' must be finite and within float32 range, got nan"


@pytest.mark.parametrize(("row", "phrase"), BAD_FEATURE_ROWS)
def test_bad_input_is_refused_with_400(worker: harness.Worker, row: Any, phrase: str) -> None:
    (reply,) = worker.handle([row])
    assert reply.phrase == "Bad Request"
    assert phrase in reply.error(400)


def test_bad_requests_in_a_batch_fail_alone(worker: harness.Worker, module: Any) -> None:
    replies = worker.handle([
        {"body": {"features": [1, 2, 3]}},
        {"body": {"features": [1, 2]}},
        {"body": {"features": [[4, 5, 6], [7, 8, 9]]}},
        {"body": {"features": ["x", 2, 3]}},
    ])
    assert len(replies) == 4
    assert [r.status for r in replies] == [200, 400, 200, 400]
    assert replies[0].json() == {"prediction": pytest.approx(_expected(module, [[1, 2, 3]])[0], abs=1e-6)}
    assert replies[2].json() == {"prediction": pytest.approx(_expected(module, [[4, 5, 6], [7, 8, 9]]), abs=1e-6)}
    assert replies[1].error(400) == "'features' row 0 has 2 values; the model expects 3"
    assert replies[3].error(400) == "'features[0]' must be a number, got 'x'"
