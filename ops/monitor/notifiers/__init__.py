"""Where alerts go: one notifier per channel, each with a timeout and retries; a failure of
one is reported and never stops the others.

A notifier receives the alerts routed to its channel in one run
(:func:`ops.monitor.alerts.channels`) and delivers them its own way: Slack one summary
message per run, e-mail one message per run, GitHub one issue per problem.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from ops.core.exits import one_line
from ops.monitor.alerts import Alert
from ops.monitor.context import MonitorContext
from ops.monitor.settings import Channel

T = TypeVar("T")
ATTEMPTS = 3
PAUSE_SECONDS = 2.0
TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Delivery:
    """Whether one channel's message(s) went out, and what happened."""

    channel: str
    sent: bool
    detail: str

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {"channel": self.channel, "sent": self.sent, "detail": self.detail}


class Notifier(Protocol):
    """One channel."""

    channel: Channel

    def missing(self) -> str | None:
        """What configuration is missing (a variable, a recipient), or None when ready."""

    def deliver(self, alerts: Sequence[Alert], context: MonitorContext) -> str:
        """Send; returns what was sent, raises (anything) when it could not."""

    def preview(self, alerts: Sequence[Alert], context: MonitorContext) -> str:
        """What :meth:`deliver` would send, for ``--dry-run``."""


def retrying(action: Callable[[], T], attempts: int = ATTEMPTS, pause: float = PAUSE_SECONDS,
             sleep: Callable[[float], None] = time.sleep) -> T:  # fmt: skip
    """``action()``, tried ``attempts`` times ``pause`` seconds apart; the last error raised."""
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except Exception:
            if attempt == attempts:
                raise
            sleep(pause)
    raise AssertionError("unreachable")


def notifier_for(channel: Channel, context: MonitorContext) -> Notifier:
    """The notifier of a channel."""
    if channel == "slack":
        from ops.monitor.notifiers.slack import SlackNotifier

        return SlackNotifier(context)
    if channel == "email":
        from ops.monitor.notifiers.email import EmailNotifier

        email: Notifier = EmailNotifier(context)
        return email
    from ops.monitor.notifiers.github import GitHubNotifier

    github: Notifier = GitHubNotifier(context)
    return github


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
            return Delivery(channel, False, f"not configured: {missing}")
        if dry_run:
            return Delivery(channel, False, "dry run: " + notifier.preview(alerts, context))
        detail = retrying(lambda: notifier.deliver(alerts, context), sleep=context.sleep)
        return Delivery(channel, True, detail)
    except Exception as error:  # one channel's failure never stops the others
        return Delivery(channel, False, f"{type(error).__name__}: {one_line(error)}")
