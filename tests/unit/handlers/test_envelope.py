"""The batch envelope: its framing, and handlers answering every enveloped request as if it came alone."""

from __future__ import annotations

import json

import pytest

from handlers import envelope
from handlers.classification import ClassificationHandler
from handlers.image_generation import ImageGenerationHandler
from tests.unit.handlers import harness, tiny
from tests.unit.handlers.approx import approx_json

JSON = {"content-type": "application/json"}

model_dir, worker, module = harness.kind_fixtures("tabular-classification", ClassificationHandler)


def _alone(worker: harness.Worker, body: object) -> harness.Reply:
    return worker.send(harness.json_request(body))[0]


def test_requests_and_responses_survive_the_framing() -> None:
    items = [(JSON, b'{"features": [1, 2]}'), ({"content-type": "image/png", "accept": "image/png"}, bytes(range(256))),
             ({}, b"")]
    assert envelope.unpack_requests(envelope.pack_requests(items)) == items
    answers = [(200, "application/json", b"{}"), (400, "application/json", b'{"error": "x"}'), (200, "image/png", b"")]
    assert envelope.unpack_responses(envelope.pack_responses(answers)) == answers
    assert envelope.unpack_requests(envelope.pack_requests([])) == []


def test_headers_fill_the_length_field_exactly_and_one_byte_more_is_refused() -> None:
    name = "accept: "
    largest = {"accept": "a" * (envelope.MAX_HEADER_BLOCK - len(name))}
    assert envelope.unpack_requests(envelope.pack_requests([(largest, b"{}")])) == [(largest, b"{}")]
    over = {"accept": largest["accept"] + "a"}
    with pytest.raises(envelope.ItemTooLarge, match="the headers take 65536 bytes; a batch envelope carries at most "
                                                    "65535 bytes of headers per request"):
        envelope.header_block(over)
    with pytest.raises(envelope.ItemTooLarge, match="65536 bytes"):  # never struct.error from the u16 field
        envelope.pack_requests([(JSON, b"{}"), (over, b"{}")])


def test_headers_that_latin_1_cannot_carry_are_refused() -> None:
    with pytest.raises(envelope.ItemTooLarge, match="header values must be latin-1"):
        envelope.header_block({"accept": "image/png\u2603"})


def test_an_answer_whose_content_type_overflows_its_length_field_is_refused() -> None:
    assert envelope.unpack_responses(envelope.pack_responses([(200, "x" * 255, b"")])) == [(200, "x" * 255, b"")]
    with pytest.raises(envelope.ItemTooLarge, match="a content type of 256 bytes; a batch envelope carries at most "
                                                    "255"):
        envelope.pack_responses([(200, "x" * 256, b"")])


@pytest.mark.parametrize(("data", "message"), [
    (b'{"features": [1, 2, 3]}', "bad magic"),
    (envelope.pack_requests([(JSON, b"{}")])[:-1], "truncated"),
    (envelope.MAGIC + b"\x00", "truncated"),
    (envelope.MAGIC + b"\x00\x00\x00\x00\x00\x00" * (envelope.MAX_ITEMS + 1), f"at most {envelope.MAX_ITEMS} items"),
])
def test_a_malformed_envelope_is_refused(data: bytes, message: str) -> None:
    with pytest.raises(envelope.EnvelopeError, match=message):
        envelope.unpack_requests(data)


def test_each_enveloped_request_gets_the_answer_it_would_get_alone(worker: harness.Worker) -> None:
    bodies = [{"features": [3, 3, 3]}, {"features": [1, 2]}, {"features": [[-3, -3, -3], [0, 0, 0]]}, b"{not json"]
    packed = envelope.pack_requests([(JSON, b if isinstance(b, bytes) else json.dumps(b).encode()) for b in bodies])
    (reply, plain) = worker.send(harness.raw_request(packed, envelope.CONTENT_TYPE),
                                 harness.json_request({"features": [-3, -3, -3]}))
    assert (reply.status, reply.content_type) == (200, envelope.CONTENT_TYPE)
    answers = envelope.unpack_responses(reply.body)
    alone = [_alone(worker, b) for b in bodies]
    assert [(status, kind) for status, kind, _ in answers] == [(a.status, a.content_type) for a in alone]
    assert [status for status, _, _ in answers] == [200, 400, 200, 400]
    assert [json.loads(body) for _, _, body in answers] == [approx_json(a.json()) for a in alone]
    # a plain row beside it is untouched
    assert plain.json() == approx_json(_alone(worker, {"features": [-3, -3, -3]}).json())


def test_a_broken_envelope_fails_alone(worker: harness.Worker) -> None:
    broken, plain = worker.send(harness.raw_request(b"BEv1\x00", envelope.CONTENT_TYPE),
                                harness.json_request({"features": [3, 3, 3]}))
    assert "truncated batch envelope" in broken.error(400)
    assert plain.status == 200


def test_headers_travel_with_each_request(tmp_path_factory: pytest.TempPathFactory) -> None:
    model_dir = tiny.build("image-generation", tmp_path_factory.mktemp("g"))
    generator = harness.start_worker(ImageGenerationHandler, model_dir)
    body = json.dumps({"digit": 3, "seed": 1}).encode()
    packed = envelope.pack_requests([({**JSON, "accept": "image/png"}, body), (JSON, body)])
    (reply,) = generator.send(harness.raw_request(packed, envelope.CONTENT_TYPE))
    (png_status, png_kind, png), (json_status, json_kind, _) = envelope.unpack_responses(reply.body)
    assert (png_status, png_kind, png[:4]) == (200, "image/png", b"\x89PNG")
    assert (json_status, json_kind) == (200, "application/json")
