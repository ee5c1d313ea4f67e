"""Short renderings of client values for the codec's error messages."""

from __future__ import annotations

from typing import Any


def _describe(value: Any) -> str:
    """A JSON value's kind, with a short preview, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return "an object" if isinstance(value, dict) else f"a list of {len(value)}"
    kind = "a string" if isinstance(value, str) else "the number"
    return f"{kind} {_preview(value)}"


def _amount(count: int) -> str:
    """A count for a message: products of shapes can exceed what `str(int)` will convert."""
    return str(count) if count.bit_length() <= 64 else "more than 2**64"


def _preview(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"
