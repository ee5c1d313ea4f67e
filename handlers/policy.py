"""Handler for the DQN policy: observation(s) → greedy action and Q-values."""

from typing import Any

from handlers.tabular import TabularHandler
from handlers.wire import Response


class PolicyHandler(TabularHandler):
    """`{"observation": [4 numbers]}` → `{"action": 1, "action_name": "push_right", "q_values": [...]}`."""

    FIELD = "observation"

    def predict(self, items: list[Any]) -> list[Response]:
        names = self.signature["actions"]
        out = []
        for q, many in self.forward_rows(items):
            actions = q.argmax(dim=1).tolist()
            body = {"action": actions, "action_name": [names[a] for a in actions], "q_values": q.tolist()}
            out.append(Response(body if many else {k: v[0] for k, v in body.items()}))
        return out
