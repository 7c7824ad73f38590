"""Slack: one summary message per run through an incoming webhook (the URL is a secret
in the variable ``[notify] slack_webhook_env`` names)."""

from __future__ import annotations

from collections.abc import Sequence

from ops.core.exits import CheckFailed
from ops.core.notify import Message, send
from ops.monitor.alerts import Alert, AlertKind
from ops.monitor.context import MonitorContext
from ops.monitor.notifiers import headline
from ops.monitor.settings import Channel

ICONS = {AlertKind.NEW: "new", AlertKind.WORSE: "worse", AlertKind.REMINDER: "still",
         AlertKind.RECOVERED: "recovered"}  # fmt: skip


def line(alert: Alert) -> tuple[str, str]:
    """One alert as a label and its text."""
    return (
        f"{ICONS[alert.kind]} {alert.status.value} {alert.key}",
        f"{alert.reason}: {alert.summary}",
    )


def summary(alerts: Sequence[Alert], context: MonitorContext) -> Message:
    """The run's message: one line per alert."""
    fields = dict(line(alert) for alert in alerts)
    if context.served_version:
        fields["release"] = context.served_version
    healthy = all(alert.kind is AlertKind.RECOVERED for alert in alerts)
    return Message(headline(alerts, context.name), healthy, fields)


class SlackNotifier:
    """Posts the run's summary to the environment's Slack webhook."""

    channel: Channel = "slack"

    def __init__(self, context: MonitorContext) -> None:
        self.variable = context.environment.notify.slack_webhook_env
        self.env = context.env

    def missing(self) -> str | None:
        """The webhook variable, when it is not set."""
        if not self.variable:
            return "[notify] slack_webhook_env"
        return None if self.env.get(self.variable) else self.variable

    def deliver(self, alerts: Sequence[Alert], context: MonitorContext) -> str:
        """Post the summary; raises when the webhook refused it or was unreachable."""
        delivery = send(
            summary(alerts, context), self.variable, context.env,
            timeout=context.settings.request_timeout_seconds,
        )  # fmt: skip
        if not delivery.sent:
            raise CheckFailed(f"Slack {delivery.detail}")
        return f"{len(alerts)} alert(s) in one message"

    def preview(self, alerts: Sequence[Alert], context: MonitorContext) -> str:
        """The message's title and lines."""
        message = summary(alerts, context)
        return " | ".join([message.title, *(f"{k}: {v}" for k, v in message.fields.items())])
