"""The policy handler: observations in, the greedy action of the module's Q-values out."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from handlers.policy import PolicyHandler
from tests.unit.handlers import harness

ACTIONS = ["push_left", "push_right"]


model_dir, worker, module = harness.kind_fixtures("policy", PolicyHandler)


def _q(module: Any, rows: list[list[float]]) -> torch.Tensor:
    return module(torch.tensor(rows, dtype=torch.float32))


OBSERVATIONS = [[0.1, 0.0, -0.05, 0.2], [2.0, 2.0, 2.0, 2.0], [-2.0, -2.0, -2.0, -2.0]]


def test_the_fixture_policy_takes_both_actions(module: Any) -> None:
    assert sorted(set(_q(module, OBSERVATIONS).argmax(dim=1).tolist())) == [0, 1]


@pytest.mark.parametrize("observation", OBSERVATIONS)
def test_action_is_the_argmax_of_the_q_values(worker: harness.Worker, module: Any, observation: list[float]) -> None:
    (reply,) = worker.handle([{"body": {"observation": observation}}])
    q = _q(module, [observation])[0]
    action = int(q.argmax())
    assert (reply.status, reply.content_type) == (200, "application/json")
    assert reply.json() == {"action": action, "action_name": ACTIONS[action],
                            "q_values": pytest.approx(q.tolist(), abs=1e-6)}


def test_several_observations_get_lists(worker: harness.Worker, module: Any) -> None:
    (reply,) = worker.handle([{"body": {"observation": OBSERVATIONS}}])
    q = _q(module, OBSERVATIONS)
    actions = q.argmax(dim=1).tolist()
    assert reply.json() == {"action": actions, "action_name": [ACTIONS[a] for a in actions],
                            "q_values": [pytest.approx(row, abs=1e-6) for row in q.tolist()]}


def test_a_batch_of_requests_is_answered_in_order(worker: harness.Worker, module: Any) -> None:
    replies = worker.handle([{"body": {"observation": o}} for o in OBSERVATIONS]
                            + [{"body": {"observation": [1, 2, 3]}}])
    assert [r.status for r in replies] == [200, 200, 200, 400]
    for reply, observation in zip(replies, OBSERVATIONS, strict=False):
        assert reply.json()["action"] == int(_q(module, [observation])[0].argmax())


@pytest.mark.parametrize(("body", "message"), [
    ({"observation": [1, 2, 3]}, "'observation' row 0 has 3 values; the model expects 4"),
    ({"observation": [1, 2, 3, 4, 5]}, "'observation' row 0 has 5 values; the model expects 4"),
    ({"observation": [1, 2, 3, float("nan")]}, "'observation[3]' must be finite and within float32 range, got nan"),
    ({"features": [1, 2, 3, 4]}, "missing field 'observation'"),
])
def test_bad_observations_are_refused(worker: harness.Worker, body: dict[str, Any], message: str) -> None:
    (reply,) = worker.handle([{"body": body}])
    assert reply.error(400) == message
