"""A local HTTP server standing in for a Slack incoming webhook: it records every JSON
body posted to it and answers with the status a test chooses."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.http import LocalServer


class Webhook:
    """Records posted JSON bodies; :attr:`status` is what it answers (200 by default)."""

    def __init__(self, path: str = "/services/T000/B000/test-hook") -> None:
        self.received: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.status = 200
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                recorder.paths.append(self.path)
                recorder.received.append(json.loads(self.rfile.read(length)))
                self.send_response(recorder.status)
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                return

        self.local = LocalServer(Handler, path=path)
        self.url = self.local.url

    def texts(self) -> list[str]:
        """The ``text`` of every message received, oldest first."""
        return [str(body.get("text", "")) for body in self.received]

    def close(self) -> None:
        """Stop serving."""
        self.local.close()
