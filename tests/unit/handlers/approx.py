"""Comparing JSON answers whose floats may differ in the last bits."""

from typing import Any

import pytest


def approx_json(value: Any, tolerance: float = 1e-6) -> Any:
    """`value` with each float as pytest.approx: an answer computed in a batch may differ from the same request's
    answer alone in the last bits (on some CPUs torch's kernels split a matmul differently by batch size)."""
    if isinstance(value, float):
        return pytest.approx(value, abs=tolerance)
    if isinstance(value, list):
        return [approx_json(item, tolerance) for item in value]
    if isinstance(value, dict):
        return {key: approx_json(item, tolerance) for key, item in value.items()}
    return value
