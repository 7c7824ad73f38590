"""Logs are JSON and never contain secrets."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from app.logs import REDACTED, JsonFormatter, configure_logging, redact, request_id_var


def test_sensitive_keys_are_redacted_at_any_depth() -> None:
    data = {
        "password": "hunter2",  # pragma: allowlist secret
        "nested": {"access_token": "abc", "ok": 1, "items": [{"Authorization": "Bearer x"}]},
        "JWT_SECRET_KEY": "s",
    }
    assert redact(data) == {
        "password": REDACTED,
        "nested": {"access_token": REDACTED, "ok": 1, "items": [{"Authorization": REDACTED}]},
        "JWT_SECRET_KEY": REDACTED,
    }


@pytest.mark.parametrize(
    ("text", "leak"),
    [
        ("header was Bearer abc.def.ghi", "abc.def.ghi"),
        ("token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl seen", "eyJhbGciOiJIUzI1NiJ9"),
        ("connect postgresql://app:s3cret@db/trading failed", "s3cret"),
    ],
)
def test_secrets_inside_messages_are_redacted(text: str, leak: str) -> None:
    assert leak not in redact(text)


def test_json_formatter_adds_request_id_and_extras() -> None:
    record = logging.makeLogRecord(
        {"name": "t", "levelname": "INFO", "msg": "login %s", "args": ("ok",), "password": "p"}
    )
    token = request_id_var.set("req-1")
    try:
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id_var.reset(token)
    assert line["message"] == "login ok"
    assert line["request_id"] == "req-1"
    assert line["password"] == REDACTED


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("restore_logging")
def test_configure_logging_emits_json(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", json_output=True)
    logging.getLogger("app.test").info("hello", extra={"token": "t0k3n"})
    err = capsys.readouterr().err.strip().splitlines()[-1]
    parsed = json.loads(err)
    assert parsed["message"] == "hello"
    assert "t0k3n" not in err
