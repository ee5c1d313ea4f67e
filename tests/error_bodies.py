"""The gateway's one error body, checked exactly wherever a test reads an error answer (unit and integration)."""

from __future__ import annotations

import httpx


def error_of(answer: httpx.Response) -> tuple[int, str]:
    """An error answer's status and message, once its body is checked to be exactly the gateway's error body:
    `{"error", "request_id"}`, the id the X-Request-ID header carries."""
    body = answer.json()
    assert body == {"error": body.get("error"), "request_id": answer.headers["x-request-id"]}, body
    assert isinstance(body["error"], str)
    return answer.status_code, body["error"]
