"""The alert lifecycle, a pure function of the state, this run's findings and the clock.

- a problem that is new raises one alert (``new``); one that gets worse (warning to
  critical) raises another (``worse``);
- while it stays open, a reminder at most every ``reminder_hours``;
- once it has passed ``recover_after`` runs in a row, one ``recovered`` message, and it
  is closed;
- a check that did not run this time (``--check``, not applicable) changes nothing.

A run cannot wait for "three failures in a row" (at six-hourly runs that is 18 hours):
a failure is confirmed *inside* the run instead, by the runner's retries.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from ops.monitor.results import Finding, Status
from ops.monitor.settings import Channel, MonitorSettings
from ops.monitor.state import MonitorState, OpenProblem


class AlertKind(StrEnum):
    """What an alert announces."""

    NEW = "new"
    WORSE = "worse"
    REMINDER = "reminder"
    RECOVERED = "recovered"


@dataclass(frozen=True)
class Alert:
    """One message about one problem."""

    kind: AlertKind
    key: str
    status: Status  # for a recovery: the status it had
    reason: str
    summary: str
    since: str
    release: str | None = None

    @property
    def fingerprint(self) -> str:
        """The problem's identity (``check/subject``), stable across runs."""
        return self.key

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"kind": self.kind.value, "key": self.key, "status": self.status.value,
                "reason": self.reason, "summary": self.summary, "since": self.since,
                "release": self.release}  # fmt: skip


def decide(
    state: MonitorState,
    findings: Iterable[Finding],
    now: datetime,
    settings: MonitorSettings,
    release: str | None = None,
) -> list[Alert]:
    """Update ``state`` with this run's findings; the alerts to send, in finding order."""
    alerts: list[Alert] = []
    stamp = now.isoformat(timespec="seconds")
    reminder = timedelta(hours=settings.reminder_hours)
    for finding in findings:
        known = state.problems.get(finding.key)
        if finding.status.is_problem:
            alert = _failing(state, known, finding, stamp, now, reminder, release)
        else:
            alert = _passing(state, known, settings.recover_after)
        if alert is not None:
            alerts.append(alert)
    return alerts


def _failing(
    state: MonitorState,
    known: OpenProblem | None,
    finding: Finding,
    stamp: str,
    now: datetime,
    reminder: timedelta,
    release: str | None,
) -> Alert | None:
    reason = finding.reason.value if finding.reason else ""
    if known is None:
        state.problems[finding.key] = OpenProblem(
            finding.key, finding.status.value, reason, finding.summary, stamp, stamp, release
        )
        return Alert(AlertKind.NEW, finding.key, finding.status, reason, finding.summary, stamp,
                     release)  # fmt: skip
    before = Status(known.status)
    known.passes, known.reason, known.summary = 0, reason, finding.summary
    known.status = finding.status.value
    if finding.status.rank > before.rank:
        kind: AlertKind | None = AlertKind.WORSE
    elif now - datetime.fromisoformat(known.notified_at) >= reminder:
        kind = AlertKind.REMINDER
        known.reminders += 1
    else:
        kind = None
    if kind is None:
        return None
    known.notified_at = stamp
    return Alert(kind, finding.key, finding.status, reason, finding.summary, known.opened_at,
                 release)  # fmt: skip


def _passing(state: MonitorState, known: OpenProblem | None, recover_after: int) -> Alert | None:
    if known is None:
        return None
    known.passes += 1
    if known.passes < recover_after:
        return None
    del state.problems[known.key]
    return Alert(AlertKind.RECOVERED, known.key, Status(known.status), known.reason,
                 known.summary, known.opened_at, known.release)  # fmt: skip


def channels(alert: Alert, settings: MonitorSettings) -> list[Channel]:
    """Where an alert goes: criticals and warnings route separately (a warning never pages);
    a recovery goes where the problem's alerts went."""
    routes = settings.routes
    return list(routes.critical if alert.status is Status.CRITICAL else routes.warning)
