"""The alert lifecycle, a pure function of the state, this run's findings and the clock.

- a problem that is new raises one alert (``new``); one that gets worse than it has
  been while open (warning to critical) raises another (``worse``) -- a problem that
  flaps between the two does not raise one each time;
- while it stays open, a reminder at most every ``reminder_hours``;
- once it has passed ``recover_after`` runs in a row, one ``recovered`` message, and it
  is closed; a check that passes entirely and no longer names a subject (a path no
  longer probed, a connection problem whose check now reports its figures) counts as
  a pass of that subject;
- a check that did not run this time (``--check``, not applicable) changes nothing.

A run cannot wait for "three failures in a row" (at six-hourly runs that is 18 hours):
a failure is confirmed *inside* the run instead, by the runner's retries.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
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
    status: Status  # for a recovery: the worst status it had
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
    """Update ``state`` with this run's findings; the alerts to send, in finding order
    (then the recoveries of subjects no finding named)."""
    seen = list(findings)
    stamp = now.isoformat(timespec="seconds")
    reminder = timedelta(hours=settings.reminder_hours)
    alerts: list[Alert] = []
    for finding in seen:
        known = state.problems.get(finding.key)
        if finding.status.is_problem:
            alert = _failing(state, known, finding, stamp, now, reminder, release)
        else:
            alert = _passing(state, known, settings.recover_after)
        if alert is not None:
            alerts.append(alert)
    for known in _unnamed(state, seen):
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
    known.passes, known.reason, known.summary = 0, reason, finding.summary
    if finding.status.rank > Status(known.status).rank:
        known.status = finding.status.value  # the worst it has been: where its alerts went
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


def _unnamed(state: MonitorState, findings: Sequence[Finding]) -> list[OpenProblem]:
    """Open problems of a check that passed entirely this run without naming them.

    Only a check whose every finding is ok vouches for what it left out: one that
    failed part-way (a journey stopped at its login) may not have reached the others.
    """
    named = {finding.key for finding in findings}
    checks = {finding.check for finding in findings}
    failing = {finding.check for finding in findings if finding.status.is_problem}
    vouching = checks - failing
    return [
        known
        for key, known in state.problems.items()
        if key not in named and key.split("/", 1)[0] in vouching
    ]


def channels(alert: Alert, settings: MonitorSettings) -> list[Channel]:
    """Where an alert goes: criticals and warnings route separately (a warning never pages);
    a recovery goes where the problem's worst alert went."""
    routes = settings.routes
    return list(routes.critical if alert.status is Status.CRITICAL else routes.warning)
