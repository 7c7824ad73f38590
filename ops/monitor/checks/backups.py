"""Backups: is there a recent, plausible, verified backup of each kind, and did the last
disaster-recovery drill pass?

For each kind in ``[monitor.backups] kinds`` the newest complete backup
(:func:`ops.backup.catalog.scan`) must be

- younger than the schedule plus its grace (else ``critical stale``; none at all:
  ``critical missing``);
- not much smaller than the usual ones: its payload (the manifest's ``stored_bytes``)
  at least ``min_ratio_of_median`` of the median of the ``recent`` complete backups
  before it -- an empty dump that "succeeded" is an incident (``critical
  threshold``); nor much quicker (``warning threshold``: a quicker run alone proves
  less), once the usual backup takes at least ``min_median_duration_seconds``;
- verified, and its verification passed (``critical status``; never verified:
  ``warning missing``) and is younger than ``verification_max_age_hours``
  (``warning stale``).

The last drill is the newest report the drill task stored in backup storage
(:func:`ops.backup.layout.drill_key`): it passed (``critical status``) and is younger
than ``drill_max_age_days`` (``warning stale``; none: ``warning missing``).

One finding per kind and one for the drill, each naming every problem it found
(the worst decides its status and reason); and one for the storage itself, which
is ``unknown missing`` naming why when it cannot be read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError

from ops.backup.catalog import BackupEntry, complete, scan
from ops.backup.drill_report import DrillReport
from ops.backup.layout import Kind, drill_key
from ops.backup.manifest import Manifest
from ops.core.console import human_size
from ops.core.exits import one_line
from ops.core.stats import median
from ops.monitor.context import MonitorContext
from ops.monitor.results import Figure, Finding, Reason, Status, ok, problem
from ops.monitor.settings import Backups
from ops.storage import Storage, StorageError, open_storage

CHECK = "backups"
REPORT_SUFFIX = ".json"


@dataclass(frozen=True)
class Issue:
    """One thing wrong with a backup kind or the drill."""

    status: Status
    reason: Reason
    text: str


@dataclass(frozen=True)
class DrillRecord:
    """The newest drill report in storage: its key, and the report or why it is unreadable."""

    key: str
    report: DrillReport | None
    unreadable: str | None = None


def backups(context: MonitorContext) -> list[Finding]:
    """The storage, then one finding per backup kind and one for the last drill."""
    try:
        storage = open_storage(context.environment, context.env)
        holdings = {
            kind: scan(storage, context.name, kind) for kind in context.settings.backups.kinds
        }
        drill = newest_drill(storage, context.name)
    except StorageError as error:
        summary = f"backup storage cannot be read: {one_line(error)}"
        return [problem(CHECK, "storage", Status.UNKNOWN, Reason.MISSING, summary)]
    findings = [ok(CHECK, "storage", f"read {storage.description}")]
    findings += [backup_finding(kind, entries, context) for kind, entries in holdings.items()]
    findings.append(drill_finding(drill, context))
    return findings


def newest_drill(storage: Storage, environment: str) -> DrillRecord | None:
    """The newest drill report stored for ``environment`` (drill ids sort by time)."""
    prefix = drill_key(environment, "").removesuffix(REPORT_SUFFIX)
    keys = sorted(obj.key for obj in storage.list(prefix) if obj.key.endswith(REPORT_SUFFIX))
    if not keys:
        return None
    try:
        return DrillRecord(keys[-1], DrillReport.model_validate_json(storage.get_bytes(keys[-1])))
    except ValidationError as error:
        return DrillRecord(
            keys[-1], None, f"{error.error_count()} problem(s), first: {_first(error)}"
        )


def _first(error: ValidationError) -> str:
    first = error.errors()[0]
    return f"{'.'.join(str(part) for part in first['loc']) or 'document'}: {first['msg']}"


def _verdict(
    subject: str, label: str, issues: list[Issue], summary: str, figures: dict[str, Figure]
) -> Finding:
    """``ok`` with ``summary``, or the worst issue's status and reason, ``label: `` and
    every issue, worst first."""
    if not issues:
        return ok(CHECK, subject, summary, **figures)
    ordered = sorted(issues, key=lambda issue: -issue.status.rank)
    text = "; ".join(issue.text for issue in ordered)
    return problem(
        CHECK, subject, ordered[0].status, ordered[0].reason, f"{label}: {text}", **figures
    )


def _hours(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / 3600


def backup_finding(kind: Kind, entries: list[BackupEntry], context: MonitorContext) -> Finding:
    """The newest complete backup of one kind: age, size and duration, verification."""
    settings = context.settings.backups
    done = complete(entries)
    if not done and not entries and not settings.required:
        return ok(CHECK, kind, f"no {kind} backup here yet (not required: [monitor.backups])")
    if not done:
        incomplete = f" ({len(entries)} incomplete)" if entries else ""
        summary = f"no complete {kind} backup{incomplete}"
        return problem(
            CHECK, kind, Status.CRITICAL, Reason.MISSING, summary, incomplete=len(entries)
        )
    newest = done[-1]
    assert newest.manifest is not None
    now = context.clock()
    figures: dict[str, Figure] = {"id": newest.id, "finished_at": newest.time.isoformat()}
    issues = [
        *_age(newest, now, settings, figures),
        *_plausibility(
            newest.manifest, [e.manifest for e in done[:-1] if e.manifest], settings, figures
        ),
        *_verification(newest, now, settings, figures),
    ]
    figures["incomplete_since"] = sum(
        1 for entry in entries if entry.time > newest.time and not entry.complete
    )
    size = human_size(newest.manifest.stored_bytes)
    summary = (
        f"{newest.id}: {figures['age_hours']} h old, {size},"
        f" {newest.manifest.duration_seconds:.0f} s, verified {figures['verified_hours_ago']} h ago"
    )
    return _verdict(kind, newest.id, issues, summary, figures)


def _age(
    entry: BackupEntry, now: datetime, settings: Backups, figures: dict[str, Figure]
) -> list[Issue]:
    age = _hours(entry.time, now)
    limit = settings.schedule_hours + settings.grace_hours
    figures.update(age_hours=round(age, 1), limit_hours=limit)
    if age <= limit:
        return []
    text = (
        f"the newest complete backup is {age:.1f} h old (schedule {settings.schedule_hours:g} h"
        f" + {settings.grace_hours:g} h grace)"
    )
    return [Issue(Status.CRITICAL, Reason.STALE, text)]


def _plausibility(
    newest: Manifest, earlier: list[Manifest], settings: Backups, figures: dict[str, Figure]
) -> list[Issue]:
    """Size and duration against the median of the ``recent`` complete backups before it."""
    window = earlier[-settings.recent :]
    figures.update(
        stored_bytes=newest.stored_bytes,
        duration_seconds=round(newest.duration_seconds, 1),
        compared_with=len(window),
    )
    if len(window) < min(settings.min_history, settings.recent):
        return []
    ratio = settings.min_ratio_of_median
    usual_bytes = median([manifest.stored_bytes for manifest in window])
    usual_seconds = median([manifest.duration_seconds for manifest in window])
    figures.update(median_bytes=round(usual_bytes), median_duration_seconds=round(usual_seconds, 1))
    issues = []
    if newest.stored_bytes < ratio * usual_bytes:
        text = (
            f"{human_size(newest.stored_bytes)} stored, below {ratio:g} of the median"
            f" {human_size(round(usual_bytes))} of the {len(window)} before it"
        )
        issues.append(Issue(Status.CRITICAL, Reason.THRESHOLD, text))
    long_enough = usual_seconds >= settings.min_median_duration_seconds
    if long_enough and newest.duration_seconds < ratio * usual_seconds:
        text = (
            f"took {newest.duration_seconds:.0f} s, below {ratio:g} of the median"
            f" {usual_seconds:.0f} s of the {len(window)} before it"
        )
        issues.append(Issue(Status.WARNING, Reason.THRESHOLD, text))
    return issues


def _verification(
    entry: BackupEntry, now: datetime, settings: Backups, figures: dict[str, Figure]
) -> list[Issue]:
    verification = entry.verification
    if verification is None:
        figures.update(verified=None, verified_hours_ago=None)
        return [Issue(Status.WARNING, Reason.MISSING, "never verified")]
    age = _hours(verification.verified_at, now)
    figures.update(verified=verification.ok, verified_hours_ago=round(age, 1))
    issues = []
    if not verification.ok:
        text = f"its verification failed: {verification.problem or 'no reason recorded'}"
        issues.append(Issue(Status.CRITICAL, Reason.STATUS, text))
    if age > settings.verification_max_age_hours:
        text = f"last verified {age:.1f} h ago (limit {settings.verification_max_age_hours:g} h)"
        issues.append(Issue(Status.WARNING, Reason.STALE, text))
    return issues


def drill_finding(record: DrillRecord | None, context: MonitorContext) -> Finding:
    """The last DR drill passed and is recent enough."""
    if record is None and not context.settings.backups.required:
        return ok(CHECK, "drill", "no DR drill here yet (not required: [monitor.backups])")
    if record is None:
        summary = "no DR drill report in backup storage"
        return problem(CHECK, "drill", Status.WARNING, Reason.MISSING, summary)
    if record.report is None:
        summary = f"drill report {record.key} is unreadable: {record.unreadable}"
        return problem(CHECK, "drill", Status.UNKNOWN, Reason.BODY, summary)
    report = record.report
    limit = context.settings.backups.drill_max_age_days
    days = _hours(report.finished_at or report.started_at, context.clock()) / 24
    figures: dict[str, Figure] = {"drill_id": report.drill_id, "ok": report.ok,
                                  "age_days": round(days, 2), "limit_days": limit}  # fmt: skip
    issues = []
    if not report.ok:
        first = report.failures[0] if report.failures else "no failure recorded"
        issues.append(Issue(Status.CRITICAL, Reason.STATUS, f"the last DR drill failed: {first}"))
    if days > limit:
        text = f"the last DR drill was {days:.1f} days ago (limit {limit:g})"
        issues.append(Issue(Status.WARNING, Reason.STALE, text))
    summary = f"{report.drill_id}: passed {days:.1f} days ago"
    return _verdict("drill", report.drill_id, issues, summary, figures)
