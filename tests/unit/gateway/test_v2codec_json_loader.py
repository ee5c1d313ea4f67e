"""The codec's JSON loader reads with orjson where orjson reads exactly as the stdlib does, and leaves every
other document (long integers, NaN, lone surrogates, deep nesting, anything orjson refuses) to the stdlib:
the same documents, the same refusals, the same messages, for any bytes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from serving.gateway.v2codec import CodecError
from serving.gateway.v2codec.body import _load_json, _load_json_stdlib

SETTINGS = settings(max_examples=300, deadline=None, database=None)
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=40)


def outcome(load: Any, data: bytes) -> tuple[str, Any]:
    try:
        return "ok", json.dumps(load(data), sort_keys=True)  # NaN-safe comparison of the documents
    except CodecError as exc:
        return "refused", exc.message


@SETTINGS
@given(st.dictionaries(st.text(max_size=6), VALUES, max_size=5))
def test_any_json_object_loads_as_the_stdlib_loads_it(document: dict[str, Any]) -> None:
    data = json.dumps(document).encode()
    assert outcome(_load_json, data) == outcome(_load_json_stdlib, data)


@SETTINGS
@given(st.binary(max_size=64))
def test_any_bytes_load_or_are_refused_as_by_the_stdlib(data: bytes) -> None:
    assert outcome(_load_json, data) == outcome(_load_json_stdlib, data)


@pytest.mark.parametrize("data", [b'{"a": 123456789012345678901234567890}', b'{"a": -9223372036854775809}',
                                  b'{"a": NaN}', b'{"a": 1e400}', b'{"a": "\\ud800"}', b"\xef\xbb\xbf{}",
                                  b'{"a": ' + b"[" * 40 + b"]" * 40 + b"}", b'{"a": 01}', b"[1]"])
def test_documents_orjson_reads_differently_take_the_stdlib_way(data: bytes) -> None:
    assert outcome(_load_json, data) == outcome(_load_json_stdlib, data)


def test_a_long_integer_stays_exact() -> None:
    assert _load_json(b'{"a": 123456789012345678901234567890}') == {"a": 123456789012345678901234567890}
