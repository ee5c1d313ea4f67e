"""A request body cut into its JSON part and its binary chunks, and the JSON part loaded within limits."""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

from serving.gateway.v2codec.model import HEADER_LENGTH, MAX_JSON_DEPTH, CodecError
from serving.gateway.v2codec.text import _describe


class _Chunks:
    """The binary part of a request body, handed out to the inputs in order."""

    def __init__(self, data: bytes, allowed: bool) -> None:
        self._data, self._offset, self._allowed = data, 0, allowed

    def take(self, size: int, where: str) -> bytes:
        if not self._allowed:
            raise CodecError(f"{where} has a binary_data_size but the request has no {HEADER_LENGTH} header")
        left = len(self._data) - self._offset
        if size > left:
            raise CodecError(f"{where} has binary_data_size {size} but only {left} bytes of binary data remain")
        self._offset += size
        return self._data[self._offset - size:self._offset]

    def finish(self) -> None:
        left = len(self._data) - self._offset
        if left:
            raise CodecError(f"{left} bytes of binary data follow the JSON that no input's binary_data_size "
                             "accounts for")


def _split(body: bytes, header_length: int | None) -> tuple[bytes, _Chunks]:
    if header_length is None:
        return body, _Chunks(b"", allowed=False)
    if header_length < 0 or header_length > len(body):
        raise CodecError(f"{HEADER_LENGTH} is {header_length} but the body has {len(body)} bytes")
    return body[:header_length], _Chunks(body[header_length:], allowed=True)


# orjson reads integers past 64 bits as floats, where the stdlib keeps them exact: 19 digits in a row send a
# document the stdlib's way (a digit run inside a string or a fraction only costs the fast path).
_LONG_DIGITS = re.compile(rb"[0-9]{19}")


def _load_json(data: bytes) -> dict[str, Any]:
    """The JSON part as a dict: orjson for what it reads exactly as the stdlib does, else the stdlib (whose
    refusals, NaN and lone-surrogate handling and messages are the codec's)."""
    if not _LONG_DIGITS.search(data):
        try:
            document = orjson.loads(data)
        except orjson.JSONDecodeError:
            pass  # the stdlib decides, with its own message
        else:
            # Fewer opening brackets (in strings or not) than the limit cannot nest past it: no walk needed.
            if isinstance(document, dict) and data.count(b"[") + data.count(b"{") <= MAX_JSON_DEPTH:
                return document
    return _load_json_stdlib(data)


def _load_json_stdlib(data: bytes) -> dict[str, Any]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CodecError(f"the request JSON is not valid UTF-8 (byte {exc.start})") from None
    try:
        document = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise CodecError(f"the request JSON is nested deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError as exc:  # JSONDecodeError, and integers over Python's digit limit
        raise CodecError(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise CodecError(f"the request body must be a JSON object, got {_describe(document)}")
    if _too_deep(document):
        raise CodecError(f"the request JSON is nested deeper than {MAX_JSON_DEPTH} levels")
    return document


def _reject_constant(name: str) -> Any:
    raise CodecError(f"the request JSON holds {name}, which is not JSON (numbers must be finite)")


def _too_deep(document: Any) -> bool:
    """Whether containers nest deeper than MAX_JSON_DEPTH (iterative: no recursion limit to hit)."""
    stack = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return True
        children = value.values() if isinstance(value, dict) else value
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False
