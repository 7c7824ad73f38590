"""Notifications: a Slack incoming webhook, when one is configured.

The webhook URL is a secret: it comes from the environment variable an
environment definition names, and it never appears in logs or errors.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx

log = logging.getLogger("ops.core.notify")
TIMEOUT_SECONDS = 10


@dataclass(frozen=True, slots=True)
class Message:
    """What happened, for humans: a title line and a few fields."""

    title: str
    ok: bool
    fields: Mapping[str, str] = field(default_factory=dict)

    def slack_payload(self) -> dict[str, object]:
        """The JSON body for a Slack incoming webhook."""
        icon = ":white_check_mark:" if self.ok else ":x:"
        lines = [f"{icon} *{self.title}*"]
        lines += [f"*{key}:* {value}" for key, value in self.fields.items()]
        return {"text": "\n".join(lines)}


@dataclass(frozen=True, slots=True)
class Delivery:
    """Whether a notification went out, and why not if it did not."""

    sent: bool
    detail: str


def send(
    message: Message,
    webhook_env: str | None,
    env: Mapping[str, str],
    timeout: float | None = None,
) -> Delivery:
    """Post ``message`` to the webhook whose URL is in variable ``webhook_env``; never raises.

    A missing webhook is not an error (notifications are optional); a failed
    post is reported in the result and logged without the URL.
    """
    url = env.get(webhook_env, "") if webhook_env else ""
    if not url:
        return Delivery(False, "no webhook configured")
    try:
        response = httpx.post(url, json=message.slack_payload(), timeout=timeout or TIMEOUT_SECONDS)
    except httpx.HTTPError as error:
        detail = f"webhook unreachable: {type(error).__name__}"
        log.warning("notification not sent: %s", detail)
        return Delivery(False, detail)
    if response.status_code >= 300:
        detail = f"webhook answered {response.status_code}"
        log.warning("notification not sent: %s", detail)
        return Delivery(False, detail)
    return Delivery(True, "sent")
