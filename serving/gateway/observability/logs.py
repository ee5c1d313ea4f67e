"""JSON logs, one object a line, each carrying the request's id; API keys and tokens never reach them.

Run uvicorn with `log_config=None` after `configure_logging()`, or its own dictConfig puts its plain-text handlers
(and its access log, which prints query strings) back.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Final, TextIO

from starlette.types import Scope

from serving.gateway.observability.request_ids import request_id_var

REDACTED: Final = "[REDACTED]"
ACCESS_LOGGER: Final = "serving.gateway.access"

# Second line of defence for whatever another module logs: credentials in free text and sensitive `extra` names.
_SECRETS_IN_TEXT = (
    (re.compile(r"(?i)\b(bearer|basic)\s+[^\s\"'\\,;]+"), rf"\1 {REDACTED}"),
    (re.compile(r"(?i)\b(authorization[\"']?\s*[:=]\s*[\"']?)(?!bearer\b|basic\b)[^\s\"'\\,;}]+"), rf"\1{REDACTED}"),
    (re.compile(r"(?i)\b([\w.-]*(?:key|token|secret|password)=)[^&\s\"'\\]+"), rf"\1{REDACTED}"),
)
_SENSITIVE_NAME = re.compile(r"(?i)authorization|cookie|password|secret|token$|key$")
# LogRecord's own attributes are not `extra` fields; uvicorn's color_message repeats the message with ANSI codes.
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "taskName", "color_message"}
_UVICORN_LOGGERS = ("uvicorn", "uvicorn.error")


def redact(text: str) -> str:
    """`text` with bearer credentials, Authorization values and `…key=`/`…token=` values replaced."""
    for pattern, replacement in _SECRETS_IN_TEXT:
        text = pattern.sub(replacement, text)
    return text


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ts (ISO 8601, UTC), level, logger, message, request_id, the record's `extra`
    fields and the exception as text. Secrets are redacted from the finished line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or request_id_var.get()
        if request_id is not None:
            entry["request_id"] = request_id
        for name, value in vars(record).items():
            if name not in _RECORD_FIELDS and name not in entry:
                entry[name] = REDACTED if _SENSITIVE_NAME.search(name) else value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return redact(json.dumps(entry, default=str))


def configure_logging(level: str = "INFO", stream: TextIO | None = None) -> None:
    """Route every record, uvicorn's included, through one JSON handler on the root logger (idempotent).

    uvicorn's access log is silenced: it prints the raw request line, query string and all, and the gateway's
    own access line (see `log_access`) replaces it.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in _UVICORN_LOGGERS:
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate = False


def log_access(scope: Scope, route: str, model: str | None, status: int, seconds: float,
               error: Exception | None = None, quiet: bool = False) -> None:
    """The access line of one request. The query string and the headers are left out: keys and tokens travel there.

    `quiet` (probes, scrapes) logs a success at DEBUG; server errors are WARNING, or ERROR with the exception.
    """
    if error is not None:
        level = logging.ERROR
    elif status >= 500:
        level = logging.WARNING
    else:
        level = logging.DEBUG if quiet and status < 400 else logging.INFO
    logger = logging.getLogger(ACCESS_LOGGER)
    if not logger.isEnabledFor(level):
        return
    client = scope.get("client")
    fields = {"method": scope["method"], "route": route, "path": scope["path"], "status": status,
              "duration_ms": round(seconds * 1000, 3), "model": model, "client": client[0] if client else None,
              "request_id": scope.get("state", {}).get("request_id") or request_id_var.get()}
    logger.log(level, "%s %s %d", scope["method"], route, status, extra=fields, exc_info=error)
