"""Slack notifications reach a real local HTTP server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import pytest

from ops.notify import Message, send


class Recorder(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, object]]] = []
    status = 200

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        Recorder.received.append(json.loads(self.rfile.read(length)))
        self.send_response(Recorder.status)
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        return


@pytest.fixture
def webhook() -> Iterator[str]:
    Recorder.received = []
    Recorder.status = 200
    server = HTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()


def test_message_reaches_the_webhook(webhook: str) -> None:
    message = Message("deploy staging", True, {"version": "abc123", "duration": "42s"})
    delivery = send(message, "HOOK", {"HOOK": webhook})
    assert delivery.sent
    text = str(Recorder.received[0]["text"])
    assert "deploy staging" in text
    assert "*version:* abc123" in text


def test_no_webhook_configured_is_not_an_error() -> None:
    assert send(Message("x", True), "HOOK", {}).detail == "no webhook configured"
    assert not send(Message("x", True), None, {}).sent


def test_failures_are_reported_without_the_url(webhook: str) -> None:
    Recorder.status = 500
    failed = send(Message("x", False), "HOOK", {"HOOK": webhook})
    assert (failed.sent, failed.detail) == (False, "webhook answered 500")
    unreachable = send(Message("x", False), "HOOK", {"HOOK": "http://127.0.0.1:1/secret-path"})
    assert not unreachable.sent
    assert "secret-path" not in unreachable.detail
