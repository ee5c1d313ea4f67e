"""Why docs/deploy.md says v2 through KServe's stock TorchServe runtime needs handler work."""

from __future__ import annotations

import json

import pytest
from ts.torch_handler.request_envelope.kservev2 import KServev2Envelope

from handlers.errors import InvalidInput
from handlers.wire import decode_row


def test_the_kservev2_envelope_gives_handlers_tensors_they_do_not_parse() -> None:
    """Why docs/deploy.md says v2 through KServe's runtime needs handler work: the envelope hands each v2
    input tensor to the handler as a row, and the handlers read the project's JSON objects, not tensors."""
    envelope = KServev2Envelope(lambda data, context: data)
    envelope.context = type("Context", (), {})()
    body = {"inputs": [{"name": "features", "shape": [1, 3], "datatype": "FP32", "data": [1.0, 2.0, 3.0]}]}
    rows = envelope.parse_input([{"body": json.dumps(body).encode()}])
    assert rows == [{"name": "features", "shape": [1, 3], "datatype": "FP32", "data": [[1.0, 2.0, 3.0]]}]
    with pytest.raises(InvalidInput, match="the JSON body must be an object, not a list"):
        decode_row(rows[0], {})
