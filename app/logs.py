"""Structured JSON logs that never carry passwords, tokens or secrets."""

from __future__ import annotations

import json
import logging
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

SENSITIVE_KEYS = re.compile(
    r"pass(word)?|secret|token|authorization|cookie|api[_-]?key|credential|jwt", re.IGNORECASE
)
_BEARER = re.compile(r"(bearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_URL_PASSWORD = re.compile(r"(://[^:/@\s]+:)[^@\s]+@")
REDACTED = "[REDACTED]"
_STANDARD_ATTRS = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message"}


def redact(value: Any) -> Any:
    """Mask secrets in nested dicts, lists and strings."""
    if isinstance(value, dict):
        return {
            key: REDACTED if SENSITIVE_KEYS.search(str(key)) else redact(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    if isinstance(value, str):
        value = _BEARER.sub(rf"\1{REDACTED}", value)
        value = _JWT.sub(REDACTED, value)
        return _URL_PASSWORD.sub(rf"\1{REDACTED}@", value)
    return value


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the request id and any ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as redacted JSON."""
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            payload["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(redact(payload), default=str)


class RedactingTextFormatter(logging.Formatter):
    """Plain text for humans, with the same redaction."""

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as redacted text."""
        text = super().format(record)
        redacted: str = redact(text)
        return redacted


def configure_logging(level: str = "INFO", json_output: bool = True) -> None:
    """Route the app's, uvicorn's and SQLAlchemy's logs through one redacting handler."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter()
        if json_output
        else RedactingTextFormatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # The app writes its own access log with request ids and timings.
    logging.getLogger("uvicorn.access").disabled = True
    # Readiness asks Alembic for the revision on every probe; keep that quiet.
    logging.getLogger("alembic").setLevel(max(root.level, logging.WARNING))
