"""`Inference-Header-Content-Length` is read by one parser, the codec's (`parse_header_length`), on the v2 REST
route too: for every value, whatever its bytes (ASGI hands headers over latin-1 decoded), the answer is the
correct length (ASCII digits, with HTTP's optional spaces and tabs around them) or a 400 that says why, never
a 500 — fuzzed over all byte values, then through the whole app for the values a second copy got wrong.
Content-Length's early 413 check takes any value too (the server has checked it; an ASGI caller may not)."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from serving.gateway.core.errors import InvalidInput, PayloadTooLarge
from serving.gateway.frontends.body import receive_body
from serving.gateway.frontends.rest_v2 import _parse
from serving.gateway.v2codec import CodecError, parse_header_length
from tests.unit.gateway.gateway_apps import FakeTorchServe, error_of, gateway, running

DOCUMENT = json.dumps({"inputs": [{"name": "features", "datatype": "FP32", "shape": [1, 2],
                                   "data": [1.0, 2.0]}]}).encode()
VALID = re.compile(r"[ \t]*([0-9]{1,18})[ \t]*")
NOT_A_NUMBER = "Inference-Header-Content-Length must be a non-negative integer, got "
latin1_values = st.binary(max_size=40).map(lambda raw: raw.decode("latin-1"))


@given(value=latin1_values)
@example(value="\u00b2")  # superscript two: str.isdigit() says yes, int() says no
@example(value="\u0665")  # (not latin-1, as a caller other than a server may pass) Arabic-Indic five: int() takes it
@example(value="+5")
@example(value=" 5")
@example(value="\xa05")  # a no-break space: str.strip() and int() take it, HTTP does not
@example(value="-1")
@example(value="")
@example(value="9" * 5000)  # past int()'s digit limit
@example(value="0" * 18 + "5")
def test_every_header_value_is_its_length_or_a_codec_error(value: str) -> None:
    valid = VALID.fullmatch(value)
    if valid is not None:
        assert parse_header_length(value) == int(valid.group(1))
        return
    with pytest.raises(CodecError) as refused:
        parse_header_length(value)
    assert refused.value.message.startswith(("Inference-Header-Content-Length must be a non-negative integer, got ",
                                             "Inference-Header-Content-Length must be a number of at most 18 "))


@given(value=latin1_values)
@example(value="\u00b2")
@example(value="9" * 5000)
def test_the_v2_route_reads_the_header_with_the_codecs_parser(value: str) -> None:
    valid = VALID.fullmatch(value)
    if valid is not None and int(valid.group(1)) == len(DOCUMENT):
        assert [t.name for t in _parse(DOCUMENT, value).inputs] == ["features"]
        return
    with pytest.raises(InvalidInput) as refused:  # a 400, whatever the value
        _parse(DOCUMENT, value)
    assert refused.value.status == 400
    if valid is None:  # refused for the header itself; a number that splits the body wrong, for what it splits
        assert refused.value.message.startswith("Inference-Header-Content-Length must be ")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
@pytest.mark.parametrize(("value", "message"), [
    ("\u00b2", NOT_A_NUMBER + "'\u00b2'"),
    ("+5", NOT_A_NUMBER + "'+5'"),
    ("", NOT_A_NUMBER + "''"),
    ("-1", NOT_A_NUMBER + "'-1'"),
    ("9" * 5000, "Inference-Header-Content-Length must be a number of at most 18 digits, got 5000 digits"),
    ("99", f"Inference-Header-Content-Length is 99 but the body has {len(DOCUMENT)} bytes"),
])
async def test_a_bad_header_is_a_400_through_the_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str,
                                                     message: str) -> None:
    FakeTorchServe(lambda name, body: b'{"prediction": [0.5]}').install(monkeypatch)
    async with running(gateway(tmp_path)) as client:
        answer = await client.post("/v2/models/reg/infer", content=DOCUMENT, headers={
            "Content-Type": "application/json", "Inference-Header-Content-Length": value.encode("latin-1")})
        assert error_of(answer) == (400, message)
        good = await client.post("/v2/models/reg/infer", content=DOCUMENT, headers={
            "Inference-Header-Content-Length": f" {len(DOCUMENT)}\t"})
        assert (good.status_code, good.json()["outputs"][0]["data"]) == (200, [0.5])



def _over(value: str, limit: int) -> bool:
    digits = value.lstrip("0")  # all zeros ("0", "000") leave no digits: a length of zero, never over
    return value.isascii() and value.isdigit() and (len(digits) > 18 or int(digits or "0") > limit)


@given(value=latin1_values)
@example(value="\u00b2")
@example(value="9" * 5000)
@example(value="0" * 30 + "5")
@example(value="0")
@example(value="000")
def test_a_content_length_of_any_bytes_is_the_body_read_or_a_413(value: str) -> None:
    body = b'{"x": 1}'

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": body, "more_body": False}

    if not _over(value, 100):
        assert asyncio.run(receive_body(receive, value, 100)) == body
        return
    with pytest.raises(PayloadTooLarge, match=r"^request body of (\d{1,18}|more than 10\*\*18) bytes is over the "
                                              r"limit of 100 bytes$"):
        asyncio.run(receive_body(receive, value, 100))
