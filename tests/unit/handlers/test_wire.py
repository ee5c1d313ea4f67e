"""The wire layer: TorchServe rows into Requests, Responses into bytes, and what the handler path does with a
response JSON cannot carry."""

from __future__ import annotations

import base64
from typing import Any

import pytest
import torch

from handlers.errors import InvalidInput
from handlers.regression import RegressionHandler
from handlers.wire import MAX_JSON_DEPTH, Request, Response, base64_bytes, decode_row, error_body
from tests.unit.handlers import harness, tiny


def _nested(levels: int, key: str = "features") -> dict[str, Any]:
    """A JSON object `levels` containers deep: the object, then lists, the innermost holding 1."""
    value: Any = 1
    for _ in range(levels - 1):
        value = [value]
    return {key: value}


def test_a_response_is_compact_json() -> None:
    assert Response({"label": "pos", "probabilities": [0.25, 0.75]}).encode() == \
        b'{"label":"pos","probabilities":[0.25,0.75]}'
    assert Response({"text": "héllo"}).encode() == b'{"text":"h\\u00e9llo"}'
    assert error_body("bad") == Response({"error": "bad"}, "application/json")


def test_a_bytes_response_is_sent_as_it_is() -> None:
    response = Response(b"\x89PNG...", content_type="image/png")
    assert response.encode() == b"\x89PNG..."


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_a_response_refuses_non_finite_numbers(value: float) -> None:
    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        Response({"prediction": value}).encode()


def test_a_parsed_json_body_is_the_fields() -> None:
    headers = {"accept": "image/png"}
    assert decode_row({"body": {"features": [1, 2, 3]}}, headers) == Request({"features": [1, 2, 3]}, None, headers)
    assert decode_row({"data": {"digit": 3}}, {}) == Request({"digit": 3})


def test_json_bytes_and_text_are_parsed() -> None:
    assert decode_row({"body": bytearray(b'{"a": 1}')}, {}).fields == {"a": 1}
    assert decode_row({"body": '{"a": 1}'}, {}).fields == {"a": 1}
    assert decode_row({"body": bytearray(b' {"a": 1}')}, {"content-type": "application/json"}).fields == {"a": 1}


def test_other_bytes_are_raw() -> None:
    assert decode_row({"body": bytearray(b"\x89PNG")}, {}) == Request(raw=b"\x89PNG")
    assert decode_row({"body": "hello"}, {"content-type": "text/plain"}).raw == b"hello"


def test_multipart_fields_are_text_where_they_are_utf8() -> None:
    request = decode_row({"prompt": bytearray("héllo".encode()), "image": bytearray(b"\x89PNG\xff")}, {})
    assert request.fields == {"prompt": "héllo", "image": b"\x89PNG\xff"}
    assert request.raw is None


@pytest.mark.parametrize(("row", "message"), [
    (None, "empty request"),
    ({}, "empty request"),
    ({"body": [1, 2]}, "the JSON body must be an object, not a list"),
    ({"body": 2.5}, "the JSON body must be an object, not float"),
    ({"body": True}, "the JSON body must be an object, not bool"),
    ({"body": bytearray()}, "empty request body"),
    ({"body": ""}, "empty request body"),
    ({"body": bytearray(b"[1, 2]")}, "the JSON body must be an object"),
    ({"body": bytearray(b'{"a": }')}, "malformed JSON: Expecting value"),
    ({"body": bytearray(b'{"a": "\xff"}')}, "malformed JSON"),
    ({"body": bytearray(b"[" * 100_000)}, "malformed JSON"),
])
def test_rows_that_are_not_requests_are_refused(row: Any, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        decode_row(row, {})


def test_nesting_up_to_the_limit_is_accepted() -> None:
    body = _nested(MAX_JSON_DEPTH)
    assert decode_row({"body": body}, {}).fields == body


@pytest.mark.parametrize("levels", [MAX_JSON_DEPTH + 1, 200])
def test_nesting_past_the_limit_is_refused(levels: int) -> None:
    assert MAX_JSON_DEPTH == 32
    with pytest.raises(InvalidInput, match="JSON nested deeper than 32 levels"):
        decode_row({"body": _nested(levels)}, {})
    with pytest.raises(InvalidInput, match="JSON nested deeper than 32 levels"):
        decode_row({"body": bytearray(b'{"a":' + b"[" * levels + b"]" * levels + b"}")}, {})


def test_base64_fields() -> None:
    assert base64_bytes(base64.b64encode(b"\x89PNG").decode(), "image") == b"\x89PNG"
    assert base64_bytes(b"\x89PNG", "image") == b"\x89PNG"  # a multipart file part is already bytes
    with pytest.raises(InvalidInput, match="'image' is not valid base64"):
        base64_bytes("data:image/png;base64,A*AA", "image")
    with pytest.raises(InvalidInput, match="'image' is not valid base64"):
        base64_bytes("AAA", "image")
    with pytest.raises(InvalidInput, match="'image' must be a base64-encoded string"):
        base64_bytes(["AAAA"], "image")


def test_accepts_reads_the_accept_header() -> None:
    assert Request(headers={"accept": "image/png"}).accepts("image/png")
    assert Request(headers={"accept": "text/html, image/png;q=0.9"}).accepts("image/png")
    assert not Request(headers={"accept": "application/json"}).accepts("image/png")
    assert not Request().accepts("image/png")


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> harness.Worker:
    return harness.start_worker(RegressionHandler, tiny.build("regression", tmp_path_factory.mktemp("models")))


def test_deep_nesting_is_a_400_in_the_handler(worker: harness.Worker) -> None:
    replies = worker.send(harness.json_request(_nested(40)), harness.raw_request(b'{"features":' + b"[" * 40 + b"1"
                                                                         + b"]" * 40 + b"}"))
    assert [r.error(400) for r in replies] == ["JSON nested deeper than 32 levels"] * 2


class NanFor13:
    """The real model, except that it answers NaN for rows whose first feature is 13."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def __call__(self, rows: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.model(rows)
        return torch.where(rows[:, 0] == 13, torch.full_like(out, float("nan")), out)


def test_a_nan_prediction_fails_only_its_request(worker: harness.Worker, monkeypatch: pytest.MonkeyPatch) -> None:
    """JSON has no NaN, so Response.encode raises; that must become a 500 for the request whose answer is NaN,
    not an exception out of `handle` (which TorchServe turns into a 503 for the whole batch)."""
    batch = [{"body": {"features": [13, 0, 0]}}, {"body": {"features": [1, 2, 3]}}]
    expected = worker.handle(batch)[1]
    monkeypatch.setattr(worker.handler, "model", NanFor13(worker.handler.model))
    replies = worker.handle(batch)
    assert [r.status for r in replies] == [500, 200]
    assert set(replies[0].json()) == {"error"}
    assert replies[1] == expected


def test_base64_accepts_data_urls_and_wrapped_lines() -> None:
    from handlers.wire import base64_bytes

    assert base64_bytes("data:image/png;base64,aGVs\nbG8=", "image") == b"hello"
    assert base64_bytes("aGVs bG8=\n", "image") == b"hello"
