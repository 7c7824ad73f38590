"""What the notifier tests deliver to and watch: a real SMTP server (aiosmtpd) with or
without STARTTLS and AUTH, a webhook that never answers, and a public URL whose health a
test flips -- all on loopback, each closed by its test -- and the environment they
monitor, defined in the test's directory."""

from __future__ import annotations

import email
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from ops.core.processes import free_port
from ops.environments import load_environment
from ops.monitor.context import Clock, MonitorContext
from ops.monitor.state import MonitorState
from tests.ops.monitor.http_support import StubServer, json_answer
from tests.support.http import Closing
from tests.support.workspace import FakeClock, toml

SMTP_USER = "monitor"
SMTP_PASSWORD = "s3cret-smtp"


@dataclass(frozen=True)
class Received:
    """One message the SMTP server accepted."""

    sender: str
    recipients: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        """The message's subject."""
        return str(self.message["Subject"])

    @property
    def text(self) -> str:
        """The message's plain-text body (its lines as sent, without the CRs of the wire)."""
        part = self.message.get_body(("plain",))
        assert isinstance(part, EmailMessage)
        return str(part.get_content()).replace("\r\n", "\n")


class _Recorder:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.unknown: set[str] = set()
        self.data_answer = "250 OK"
        self.data_attempts = 0

    async def handle_RCPT(
        self, _server: SMTP, _session: Session, envelope: Envelope, address: str, _options: object
    ) -> str:
        if address in self.unknown:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, _server: SMTP, _session: Session, envelope: Envelope) -> str:
        self.data_attempts += 1
        if not self.data_answer.startswith("250"):
            return self.data_answer
        raw = envelope.original_content or b""
        message = email.message_from_bytes(raw, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.received.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos), message))
        return "250 OK"


def _authenticate(
    _server: SMTP, _session: Session, _envelope: Envelope, _mechanism: str, data: object
) -> AuthResult:
    good = isinstance(data, LoginPassword) and (data.login, data.password) == (
        SMTP_USER.encode(),
        SMTP_PASSWORD.encode(),
    )
    return AuthResult(success=good, handled=False)  # unhandled: the server answers 535


class Mailbox(Closing):
    """An SMTP server on a free port of 127.0.0.1; ``tls`` (a trustme CA) makes it require
    STARTTLS with a certificate for 127.0.0.1, ``auth`` makes it require a login (over TLS
    only when ``tls``) with :data:`SMTP_USER` / :data:`SMTP_PASSWORD`."""

    def __init__(self, *, tls: trustme.CA | None = None, auth: bool = False) -> None:
        self.port = free_port()
        self._recorder = _Recorder()
        options: dict[str, Any] = {}
        if tls is not None:
            server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls.issue_cert("127.0.0.1").configure_cert(server_context)
            options.update(tls_context=server_context, require_starttls=True)
        if auth:
            options.update(
                authenticator=_authenticate, auth_required=True, auth_require_tls=tls is not None
            )
        self.controller = Controller(
            self._recorder, hostname="127.0.0.1", port=self.port, **options
        )
        self.controller.start()

    @property
    def received(self) -> list[Received]:
        """Every message accepted, oldest first."""
        return list(self._recorder.received)

    def refuse_recipient(self, address: str) -> None:
        """Answer 550 (no such mailbox) to ``RCPT TO`` of ``address``."""
        self._recorder.unknown.add(address)

    def answer_data(self, answer: str) -> None:
        """Answer the message's ``DATA`` with ``answer`` (``451 ...``) instead of accepting it."""
        self._recorder.data_answer = answer

    @property
    def data_attempts(self) -> int:
        """How many messages were offered (accepted or not)."""
        return self._recorder.data_attempts

    def env(self, **extra: str) -> dict[str, str]:
        """The variables that point the e-mail notifier here."""
        return {"SMTP_HOST": "127.0.0.1", **extra}

    def close(self) -> None:
        """Stop serving."""
        self.controller.stop()


class Silent(Closing):
    """A webhook that accepts connections and never answers (the kernel queues them)."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}/services/T/B/silent"

    def close(self) -> None:
        """Stop listening."""
        self.socket.close()


class PublicUrl(Closing):
    """The environment's public URL (the HTTP checks' stub server): ``/health`` and
    ``/ready`` as the app answers them; :attr:`ready` False makes ``/ready`` answer 503
    naming a dead Redis."""

    def __init__(self) -> None:
        self.stub = StubServer()
        self.url = self.stub.url
        self.stub.answer("/health", json_answer({"status": "ok"}))
        self.ready = True

    @property
    def ready(self) -> bool:
        """Whether ``/ready`` answers 200."""
        return self._ready

    @ready.setter
    def ready(self, ready: bool) -> None:
        self._ready = ready
        checks = {
            "database": {"ok": True, "detail": "at head"},
            "redis": {"ok": ready, "detail": "PONG" if ready else "connection refused"},
        }
        if ready:
            self.stub.answer("/ready", json_answer({"status": "ready", "checks": checks}))
            return
        error = {"code": "not_ready", "message": "not ready: redis", "request_id": "r1"}
        self.stub.answer("/ready", json_answer({"error": error, "checks": checks}, 503))

    def close(self) -> None:
        """Stop serving."""
        self.stub.close()


NAME = "watched"


def definition_text(public_url: str, state_dir: Path, **monitor: dict[str, Any]) -> str:
    """The TOML of environment :data:`NAME`: the public URL, the state under ``state_dir``,
    Slack through ``SLACK_WEBHOOK_URL``, and ``[monitor.<section>]`` values over a quick,
    availability-only ``[monitor]``."""
    sections: dict[str, dict[str, Any]] = {
        "": {"platform": "local", "public_url": public_url},
        "notify": {"slack_webhook_env": "SLACK_WEBHOOK_URL"},
        "local": {"state_dir": str(state_dir)},
        "monitor": {
            "checks": ["availability"],
            "attempts": 2,
            "retry_seconds": 0,
            "request_timeout_seconds": 2,
            **monitor.pop("monitor", {}),
        },
    }
    sections.update({f"monitor.{name}": values for name, values in monitor.items()})
    return toml(sections)


def context(
    tmp_path: Path,
    env: Mapping[str, str],
    *,
    public_url: str = "http://127.0.0.1:9",
    clock: Clock | None = None,
    **monitor: dict[str, Any],
) -> MonitorContext:
    """A context of environment :data:`NAME` (see :func:`definition_text`), a no-op sleep."""
    (tmp_path / "envs").mkdir(exist_ok=True)
    path = tmp_path / "envs" / f"{NAME}.toml"
    path.write_text(definition_text(public_url, tmp_path / "state", **monitor))
    environment = load_environment(NAME, path.parent)
    return MonitorContext(
        environment, env, MonitorState(NAME), clock or FakeClock(), lambda _seconds: None
    )
