"""Validation of request fields against the model's signature, with messages a client can act on."""

import math
from typing import Any

import torch

from handlers.errors import InvalidInput
from handlers.wire import Request


def required(request: Request, *names: str) -> Any:
    """The first present field of `names` (aliases), or a 400 naming what was expected."""
    for name in names:
        if name in request.fields:
            return request.fields[name]
    raise InvalidInput(f"missing field '{names[0]}'")


def number(value: Any, name: str) -> float:
    """A finite real number (bools and strings that are not numbers are refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InvalidInput(f"'{name}' must be a number, got {type(value).__name__}")
    try:
        result = float(value)
    except (ValueError, OverflowError):
        raise InvalidInput(f"'{name}' must be a number, got {value!r:.40}") from None
    if not math.isfinite(result) or abs(result) > 3.4e38:
        raise InvalidInput(f"'{name}' must be finite and within float32 range, got {value!r:.40}")
    return result


def integer(value: Any, name: str, low: int, high: int) -> int:
    """An integer in [low, high] (a whole float such as 3.0 is accepted)."""
    if isinstance(value, int) and not isinstance(value, bool):
        if not low <= value <= high:
            raise InvalidInput(f"'{name}' must be between {low} and {high}, got {value}")
        return value
    as_float = number(value, name)
    if not as_float.is_integer():
        raise InvalidInput(f"'{name}' must be an integer, got {value!r:.40}")
    result = int(as_float)
    if not low <= result <= high:
        raise InvalidInput(f"'{name}' must be between {low} and {high}, got {result}")
    return result


def bounded(value: Any, name: str, low: float, high: float) -> float:
    """A number in [low, high]."""
    result = number(value, name)
    if not low <= result <= high:
        raise InvalidInput(f"'{name}' must be between {low:g} and {high:g}, got {result:g}")
    return result


def matrix(value: Any, name: str, width: int, max_rows: int) -> torch.Tensor:
    """One row ([w numbers]) or several ([[w numbers], ...]) as a float32 tensor [rows, width]."""
    rows = value if isinstance(value, list) and value and isinstance(value[0], list) else [value]
    if len(rows) > max_rows:
        raise InvalidInput(f"'{name}' has {len(rows)} rows; at most {max_rows} per request")
    out = []
    for r, row in enumerate(rows):
        if not isinstance(row, list):
            raise InvalidInput(f"'{name}' must be a list of {width} numbers or a list of such lists")
        if len(row) != width:
            raise InvalidInput(f"'{name}' row {r} has {len(row)} values; the model expects {width}")
        out.append([number(v, f"{name}[{r}][{c}]" if len(rows) > 1 else f"{name}[{c}]") for c, v in enumerate(row)])
    return torch.tensor(out, dtype=torch.float32)


def is_batch(value: Any) -> bool:
    """Whether a field holds several rows (so the answer is a list) rather than one."""
    return isinstance(value, list) and bool(value) and isinstance(value[0], list)


def split_rows(output: torch.Tensor, counts: list[int]) -> list[torch.Tensor]:
    """Cut a batched output back into each request's rows."""
    return list(torch.split(output, counts))
