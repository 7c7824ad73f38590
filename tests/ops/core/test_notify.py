"""Slack notifications reach a real local HTTP server; failures never raise or leak the URL."""

from __future__ import annotations

from ops.core.notify import Message, send
from tests.support.webhook import Webhook


def test_message_reaches_the_webhook(webhook: Webhook) -> None:
    message = Message("deploy staging", True, {"version": "abc123", "duration": "42s"})
    delivery = send(message, "HOOK", {"HOOK": webhook.url})
    assert delivery.sent
    text = webhook.texts()[0]
    assert "deploy staging" in text
    assert "*version:* abc123" in text


def test_no_webhook_configured_is_not_an_error() -> None:
    assert send(Message("x", True), "HOOK", {}).detail == "no webhook configured"
    assert not send(Message("x", True), None, {}).sent


def test_failures_are_reported_without_the_url(webhook: Webhook) -> None:
    webhook.status = 500
    failed = send(Message("x", False), "HOOK", {"HOOK": webhook.url})
    assert (failed.sent, failed.detail) == (False, "webhook answered 500")
    unreachable = send(Message("x", False), "HOOK", {"HOOK": "http://127.0.0.1:1/secret-path"})
    assert not unreachable.sent
    assert "secret-path" not in unreachable.detail
