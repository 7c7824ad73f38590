"""E-mail: one message per run through SMTP, listing the alerts routed to e-mail.

The server is the host the variable ``[monitor.email] host_env`` names, on ``port``;
with ``starttls`` the connection is upgraded (verified against the monitor's trust
store) before anything else is said; when the variable ``user_env`` names is set, the
notifier logs in with it and the secret ``password_env`` names. Every wait is bounded
by the monitor's ``request_timeout_seconds``. A permanent refusal (a 5xx: the login,
every recipient, the message) fails at once with the server's one-line answer (never
the password); a server that cannot be reached or answers a 4xx is tried again;
recipients refused while others accepted the message are named in the result.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from ops.core.exits import CannotRun
from ops.monitor.alerts import Alert
from ops.monitor.context import MonitorContext
from ops.monitor.notifiers import Refused, headline
from ops.monitor.settings import Channel


class SmtpUnavailable(CannotRun):
    """The SMTP server could not be reached or dropped the conversation (tried again)."""


def body(alerts: Sequence[Alert], context: MonitorContext) -> str:
    """The message's text: one paragraph per alert."""
    paragraphs = [f"{headline(alerts, context.name)} at {context.environment.public_url}"]
    for alert in alerts:
        release = f", release {alert.release}" if alert.release else ""
        paragraphs.append(
            f"{alert.kind.value}: {alert.status.value} {alert.key} ({alert.reason})\n"
            f"  {alert.summary}\n  open since {alert.since}{release}"
        )
    if context.served_version:
        paragraphs.append(f"serving {context.served_version}")
    return "\n\n".join(paragraphs) + "\n"


Refusals = dict[str, tuple[int, bytes]]


def _refusals(refused: Refusals) -> str:
    return ", ".join(
        f"{address} ({code} {answer.decode(errors='replace')})"
        for address, (code, answer) in sorted(refused.items())
    )


def _server_answer(error: smtplib.SMTPResponseException) -> str:
    said = error.smtp_error
    text = said.decode(errors="replace") if isinstance(said, bytes) else str(said)
    return f"{error.smtp_code} {' '.join(text.split())}".strip()


class EmailNotifier:
    """Sends the run's alerts as one e-mail to ``[monitor.email] recipients``."""

    channel: Channel = "email"

    def __init__(self, context: MonitorContext) -> None:
        self.settings = context.settings.email
        self.env = context.env
        self.timeout = context.settings.request_timeout_seconds

    @property
    def server(self) -> str:
        """``host:port``, for messages."""
        return f"{self.env.get(self.settings.host_env, '')}:{self.settings.port}"

    def missing(self) -> str | None:
        """The host variable, the recipients, or the password of a configured user."""
        settings = self.settings
        if not self.env.get(settings.host_env):
            return settings.host_env
        if not settings.recipients:
            return "[monitor.email] recipients"
        if self.env.get(settings.user_env) and not self.env.get(settings.password_env):
            return settings.password_env
        return None

    def message(self, alerts: Sequence[Alert], context: MonitorContext) -> EmailMessage:
        """The one message of this run."""
        message = EmailMessage()
        message["Subject"] = headline(alerts, context.name)
        message["From"] = self.settings.sender
        message["To"] = ", ".join(self.settings.recipients)
        message["Date"] = formatdate(context.clock().timestamp())
        message["Message-ID"] = make_msgid(domain=self.settings.sender.rsplit("@", 1)[1])
        message.set_content(body(alerts, context))
        return message

    def deliver(self, alerts: Sequence[Alert], context: MonitorContext) -> str:
        """Connect, upgrade, log in, send; :class:`Refused` or :class:`SmtpUnavailable`."""
        message = self.message(alerts, context)
        try:
            refused = self._send(message, context.tls_context())
        except smtplib.SMTPRecipientsRefused as error:
            raise Refused(
                f"SMTP {self.server} refused every recipient: {_refusals(error.recipients)}"
            ) from None
        except smtplib.SMTPResponseException as error:
            raise self._answered(error) from None
        except smtplib.SMTPNotSupportedError as error:
            raise Refused(f"SMTP {self.server}: {error}") from None
        except ssl.SSLError as error:
            raise Refused(f"SMTP {self.server}: STARTTLS failed: {error}") from None
        except (OSError, smtplib.SMTPException) as error:
            raise SmtpUnavailable(
                f"SMTP {self.server} unreachable: {type(error).__name__}: {error}"
            ) from None
        recipients = self.settings.recipients
        sent = f"{len(alerts)} alert(s) in one message to {len(recipients) - len(refused)}"
        if not refused:
            return f"{sent} recipient(s)"
        return f"{sent} of {len(recipients)} recipient(s); refused {_refusals(refused)}"

    def _answered(self, error: smtplib.SMTPResponseException) -> CannotRun:
        """A server's refusal: a 4xx may pass (tried again), a 5xx will not."""
        if isinstance(error, smtplib.SMTPAuthenticationError):
            user = self.env.get(self.settings.user_env, "")
            what = f"refused the login of {user}"
        else:
            what = "answered"
        text = f"SMTP {self.server} {what}: {_server_answer(error)}"
        return SmtpUnavailable(text) if 400 <= error.smtp_code < 500 else Refused(text)

    def _send(self, message: EmailMessage, tls: ssl.SSLContext) -> Refusals:
        """Send; the recipients the server refused (when it accepted others)."""
        settings = self.settings
        host = self.env[settings.host_env]
        with smtplib.SMTP(host, settings.port, timeout=self.timeout) as smtp:
            if settings.starttls:
                smtp.starttls(context=tls)
            user = self.env.get(settings.user_env)
            if user:
                smtp.login(user, self.env[settings.password_env])
            return smtp.send_message(message)

    def preview(self, alerts: Sequence[Alert], context: MonitorContext) -> str:
        """The subject and the recipients."""
        return f"to {', '.join(self.settings.recipients)}: {headline(alerts, context.name)}"
