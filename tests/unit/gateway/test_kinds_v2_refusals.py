"""The v2 contract's translation to the handlers' JSON refuses what the codec could not check alone."""

from __future__ import annotations

import json

import pytest

from serving.gateway.core.catalog import ModelEntry
from serving.gateway.core.errors import InvalidInput
from serving.gateway.v2codec import parse_request

DIGITS = ModelEntry("digits", "image-classification", "1", {"labels": ["0", "1"]}, {}, "")


def test_an_image_that_is_not_base64_is_invalid_input_not_a_server_error() -> None:
    """Found by the gateway fuzz test: the codec's error escaped from here as a 500."""
    body = {"inputs": [{"name": "image", "datatype": "BYTES", "shape": [1], "data": ["not base64!"]}]}
    request = parse_request(json.dumps(body).encode(), None)
    with pytest.raises(InvalidInput, match="input 'image' is not valid base64") as refused:
        DIGITS.model_kind.handler_requests(DIGITS.signature, request)
    assert refused.value.status == 400
