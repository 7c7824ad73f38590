"""Where alerts go: one notifier per channel, each with a timeout and retries; a failure of
one is reported and never stops the others.

A notifier receives the alerts routed to its channel in one run
(:func:`ops.monitor.alerts.channels`) and delivers them its own way: Slack one summary
message per run, e-mail one message per run, GitHub one issue per problem. Every
request it makes waits at most the monitor's ``request_timeout_seconds``; what may pass
(a time-out, a 5xx, a rate limit) is tried again by :func:`retrying`, what will not (bad
credentials, an unknown repository: :class:`Refused`) fails at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from ops.core.exits import CannotRun, OpsError, one_line
from ops.monitor.alerts import Alert, AlertKind
from ops.monitor.context import MonitorContext
from ops.monitor.results import worst
from ops.monitor.settings import Channel

T = TypeVar("T")
ATTEMPTS = 3
PAUSE_SECONDS = 2.0


class Refused(CannotRun):
    """The service turned the delivery down for good (credentials, permissions, an unknown
    recipient or repository): trying again would not help."""


@dataclass(frozen=True)
class Delivery:
    """Whether one channel's message(s) went out, and what happened; ``configured`` False
    for a channel the environment does not set up (nothing was attempted)."""

    channel: str
    sent: bool
    detail: str
    configured: bool = True

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {"channel": self.channel, "sent": self.sent, "detail": self.detail,
                "configured": self.configured}  # fmt: skip


class Notifier(Protocol):
    """One channel."""

    channel: Channel

    def missing(self) -> str | None:
        """What configuration is missing (a variable, a recipient), or None when ready."""

    def deliver(self, alerts: Sequence[Alert], context: MonitorContext) -> str:
        """Send; returns what was sent, raises (anything) when it could not. Called again
        by :func:`retrying` after a failure, so a notifier that sends several requests
        must not repeat, on the next call, what already went out."""

    def preview(self, alerts: Sequence[Alert], context: MonitorContext) -> str:
        """What :meth:`deliver` would send, for ``--dry-run`` (sending nothing)."""


def headline(alerts: Sequence[Alert], environment: str) -> str:
    """The run's title, the same on every channel: the environment, the worst status of
    the open problems and how many there are -- or how many recovered."""
    problems = [alert for alert in alerts if alert.kind is not AlertKind.RECOVERED]
    recovered = len(alerts) - len(problems)
    if not problems:
        return f"monitor {environment}: {recovered} recovered"
    status = worst([alert.status for alert in problems]).value
    also = f", {recovered} recovered" if recovered else ""
    return f"monitor {environment}: {len(problems)} {status} problem(s){also}"


def retrying(action: Callable[[], T], attempts: int = ATTEMPTS, pause: float = PAUSE_SECONDS,
             sleep: Callable[[float], None] = time.sleep) -> T:  # fmt: skip
    """``action()``, tried ``attempts`` times ``pause`` seconds apart; the last error raised.
    A :class:`Refused` is raised at once."""
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except Refused:
            raise
        except Exception:
            if attempt == attempts:
                raise
            sleep(pause)
    raise AssertionError("unreachable")


def notifier_for(channel: Channel, context: MonitorContext) -> Notifier:
    """The notifier of a channel."""
    notifier: Notifier
    if channel == "slack":
        from ops.monitor.notifiers.slack import SlackNotifier

        notifier = SlackNotifier(context)
    elif channel == "email":
        from ops.monitor.notifiers.email import EmailNotifier

        notifier = EmailNotifier(context)
    else:
        from ops.monitor.notifiers.github import GitHubNotifier

        notifier = GitHubNotifier(context)
    return notifier


def deliver_all(
    routed: dict[Channel, list[Alert]], context: MonitorContext, *, dry_run: bool
) -> list[Delivery]:
    """Hand each channel its alerts; every channel is tried whatever the others did."""
    return [
        _deliver(channel, alerts, context, dry_run) for channel, alerts in routed.items() if alerts
    ]


def _deliver(
    channel: Channel, alerts: Sequence[Alert], context: MonitorContext, dry_run: bool
) -> Delivery:
    try:
        notifier = notifier_for(channel, context)
        missing = notifier.missing()
        if missing is not None:
            return Delivery(channel, False, f"not configured: {missing}", configured=False)
        if dry_run:
            return Delivery(channel, False, "dry run: " + notifier.preview(alerts, context))
        detail = retrying(lambda: notifier.deliver(alerts, context), sleep=context.sleep)
        return Delivery(channel, True, detail)
    except Exception as error:  # one channel's failure never stops the others
        return Delivery(channel, False, failure(error))


def failure(error: BaseException) -> str:
    """One line for a failed delivery: our own errors say what happened; anything else is
    named by its type too (``TimeoutError: timed out``)."""
    if isinstance(error, OpsError):
        return one_line(error)
    return f"{type(error).__name__}: {one_line(error)}"
