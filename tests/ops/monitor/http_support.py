"""What the HTTP and TLS checks' tests share: a stub server whose answers a test sets (over
HTTP, or HTTPS with the certificates a test chooses), and a monitor context for a URL."""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from ops.environments import EnvironmentDefinition
from ops.monitor.context import MonitorContext
from ops.monitor.results import Finding
from ops.monitor.settings import MonitorSettings
from ops.monitor.state import MonitorState
from tests.support.http import Closing, LocalServer

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True)
class Answer:
    """One answer of the stub: a status, a body, and how long to wait before giving it."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    delay_seconds: float = 0.0


def json_answer(payload: Any, status: int = 200, delay_seconds: float = 0.0) -> Answer:
    """An answer with a JSON body."""
    return Answer(status, json.dumps(payload).encode(), "application/json", delay_seconds)


def text_answer(text: str, status: int = 200, content_type: str = PROMETHEUS_TEXT) -> Answer:
    """An answer with a text body (Prometheus exposition by default)."""
    return Answer(status, text.encode(), content_type)


NOT_FOUND = json_answer({"error": {"code": "not_found", "message": "no such stub"}}, 404)


@dataclass(frozen=True)
class Received:
    """One request the stub received."""

    method: str
    path: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class StubServer(Closing):
    """A threaded HTTP server on 127.0.0.1 and a free port answering what :meth:`answer`
    set (404 otherwise), recording every request; HTTPS when given a server context."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.answers: dict[tuple[str, str], list[Answer]] = {}
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self.local = LocalServer(_handler(self), tls=tls)
        self.port = self.local.port
        self.url = self.local.url

    def answer(self, path: str, *answers: Answer, method: str = "GET") -> None:
        """Answer ``method path`` with ``answers`` in turn, the last one from then on."""
        with self._lock:
            self.answers[(method, path)] = list(answers)

    def next_answer(self, method: str, path: str) -> Answer:
        """The answer to give now to ``method path``."""
        with self._lock:
            queue = self.answers.get((method, path))
            if not queue:
                return NOT_FOUND
            return queue.pop(0) if len(queue) > 1 else queue[0]

    def record(self, received: Received) -> None:
        """Keep a request."""
        with self._lock:
            self.received.append(received)

    def requests(self, method: str | None = None) -> list[str]:
        """``METHOD path`` of every request received (of one method), oldest first."""
        with self._lock:
            return [
                f"{seen.method} {seen.path}"
                for seen in self.received
                if method is None or seen.method == method
            ]

    def close(self) -> None:
        """Stop serving."""
        self.local.close()


def _handler(stub: StubServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _respond(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            path = urlsplit(self.path).path
            stub.record(Received(self.command, path, body, dict(self.headers.items())))
            answer = stub.next_answer(self.command, path)
            if answer.delay_seconds:
                time.sleep(answer.delay_seconds)
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)

        do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _respond

        def log_message(self, *_args: object) -> None:
            return

    return Handler


def monitor_context(
    url: str,
    env: Mapping[str, str] | None = None,
    sleeps: list[float] | None = None,
    **sections: Any,
) -> MonitorContext:
    """A context for a test environment at ``url``: ``sections`` override the ``[monitor]``
    settings (``availability={"budget_ms": 1}``); no waiting -- the seconds a check asked
    to sleep are appended to ``sleeps``."""
    settings = MonitorSettings.model_validate({"request_timeout_seconds": 5, **sections})
    environment = EnvironmentDefinition(
        name="test", platform="local", public_url=url, monitor=settings
    )
    pauses = sleeps if sleeps is not None else []
    return MonitorContext(environment, dict(env or {}), MonitorState("test"), sleep=pauses.append)


def by_subject(findings: list[Finding]) -> dict[str, Finding]:
    """Findings keyed by their subject (each check gives one per subject)."""
    keyed = {finding.subject: finding for finding in findings}
    assert len(keyed) == len(findings), f"one finding per subject: {findings}"
    return keyed
