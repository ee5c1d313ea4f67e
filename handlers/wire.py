"""The wire layer: one TorchServe request row in, a `Request` out; a `Response` back to bytes.

TorchServe hands each row as a dict: a JSON body arrives parsed under "body" (or "data"), a raw body as a
bytearray, text as str, and multipart/form-data as one key per field (bytearrays)."""

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

from handlers.errors import InvalidInput

MAX_JSON_DEPTH = 32


@dataclass(frozen=True)
class Request:
    """One decoded request: JSON fields (an object) and/or raw bytes, plus its headers (lower-case keys)."""

    fields: dict[str, Any] = field(default_factory=dict)
    raw: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def accepts(self, content_type: str) -> bool:
        """Whether the client's Accept header names this content type."""
        return content_type in self.headers.get("accept", "")


@dataclass(frozen=True)
class Response:
    """What one request gets back: a JSON object, or raw bytes with their content type."""

    body: dict[str, Any] | bytes
    content_type: str = "application/json"

    def encode(self) -> bytes:
        """The bytes TorchServe sends (compact JSON, not TorchServe's indented default)."""
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body, separators=(",", ":"), allow_nan=False).encode()


def decode_row(row: Any, headers: dict[str, str]) -> Request:
    """Turn one TorchServe row into a Request, or raise InvalidInput."""
    if not isinstance(row, dict) or not row:
        raise InvalidInput("empty request")
    body = row.get("body", row.get("data"))
    if body is None:  # multipart/form-data: the fields are the row itself
        return Request(fields={k: _field(v) for k, v in row.items()}, headers=headers)
    if isinstance(body, dict):
        _check_depth(body)
        return Request(fields=body, headers=headers)
    if isinstance(body, list):
        raise InvalidInput("the JSON body must be an object, not a list")
    if isinstance(body, str):
        return _from_bytes(body.encode(), headers)
    if isinstance(body, (bytes, bytearray)):
        return _from_bytes(bytes(body), headers)
    raise InvalidInput(f"the JSON body must be an object, not {type(body).__name__}")


def _from_bytes(data: bytes, headers: dict[str, str]) -> Request:
    if not data:
        raise InvalidInput("empty request body")
    content_type = headers.get("content-type", "")
    sniff = not content_type.startswith("text/") and data[:1] in (b"{", b"[")
    if "json" in content_type or sniff:
        try:
            parsed = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise InvalidInput(f"malformed JSON: {exc}") from None
        if not isinstance(parsed, dict):
            raise InvalidInput("the JSON body must be an object")
        _check_depth(parsed)
        return Request(fields=parsed, headers=headers)
    return Request(raw=data, headers=headers)


def _field(value: Any) -> Any:
    """A multipart field: JSON file parts arrive parsed; text fields as bytes, decoded where they are text."""
    if isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return bytes(value)
    return value


def _check_depth(value: Any, depth: int = 0) -> None:
    if depth > MAX_JSON_DEPTH:
        raise InvalidInput(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, dict):
        for item in value.values():
            _check_depth(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_depth(item, depth + 1)


def base64_bytes(value: Any, name: str) -> bytes:
    """Bytes from a base64 string field (or raw bytes from a multipart file field)."""
    if isinstance(value, bytes):
        return value
    if not isinstance(value, str):
        raise InvalidInput(f"'{name}' must be a base64-encoded string")
    if value.startswith("data:") and ";base64," in value:  # a data URL, as browsers produce
        value = value.split(";base64,", 1)[1]
    value = "".join(value.split())  # line-wrapped output of the base64 tool
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(f"'{name}' is not valid base64") from None


def error_body(message: str) -> Response:
    """The JSON body of a failed request."""
    return Response({"error": message})
