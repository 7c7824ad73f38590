"""Which backups to keep: a pure function of the backups, the policy and the time.

Kept, each for the reasons listed in its decision:

- the newest ``keep_last`` complete backups;
- for each of the last ``daily`` calendar days (UTC, today included), the newest
  complete backup of that day; likewise the last ``weekly`` ISO weeks and the
  last ``monthly`` calendar months;
- the newest backup whose latest verification passed -- always, whatever the policy;
- backups dated in the future (a clock problem is not a reason to delete);
- incomplete backups younger than the grace period (they may still be running).

Everything else is deleted: complete backups outside every rule, and incomplete
ones older than the grace period (debris of killed or failed runs).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TypeVar

from ops.environments import Retention

INCOMPLETE_GRACE = timedelta(hours=24)
Period = TypeVar("Period", bound=Hashable)


@dataclass(frozen=True, slots=True)
class Candidate:
    """What the policy needs to know about one backup."""

    id: str
    time: datetime
    complete: bool = True
    verified: bool = False


@dataclass(frozen=True, slots=True)
class Decision:
    """Keep or delete one backup, and why."""

    id: str
    keep: bool
    reasons: tuple[str, ...]


def _months_back(today: date, count: int) -> list[tuple[int, int]]:
    months = []
    year, month = today.year, today.month
    for _ in range(count):
        months.append((year, month))
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return months


def _newest_per_period(
    backups: Sequence[Candidate],
    periods: list[Period],
    period_of: Callable[[datetime], Period],
    label: Callable[[Period], str],
) -> dict[str, str]:
    """Backup id -> reason, for the newest backup of each wanted period."""
    wanted = set(periods)
    chosen: dict[Period, Candidate] = {}
    for backup in backups:  # newest first
        period = period_of(backup.time)
        if period in wanted and period not in chosen:
            chosen[period] = backup
    return {backup.id: label(period) for period, backup in chosen.items()}


def _week(moment: datetime | date) -> tuple[int, int]:
    iso = moment.isocalendar()
    return iso.year, iso.week


def _rule_reasons(done: list[Candidate], policy: Retention, now: datetime) -> dict[str, list[str]]:
    today = now.date()
    reasons: dict[str, list[str]] = {}

    def add(found: dict[str, str]) -> None:
        """Record the reasons one rule keeps backups for."""
        for backup_id, reason in found.items():
            reasons.setdefault(backup_id, []).append(reason)

    add(
        {
            b.id: f"newest {i + 1} of {policy.keep_last}"
            for i, b in enumerate(done[: policy.keep_last])
        }
    )
    days = [today - timedelta(days=i) for i in range(policy.daily)]
    add(_newest_per_period(done, days, lambda t: t.date(), lambda d: f"daily {d}"))
    weeks = [_week(today - timedelta(weeks=i)) for i in range(policy.weekly)]
    add(_newest_per_period(done, weeks, _week, lambda w: f"weekly {w[0]}-W{w[1]:02d}"))
    months = _months_back(today, policy.monthly)
    month_of: Callable[[datetime], tuple[int, int]] = lambda t: (t.year, t.month)  # noqa: E731
    add(_newest_per_period(done, months, month_of, lambda m: f"monthly {m[0]}-{m[1]:02d}"))
    verified = next((b for b in done if b.verified), None)
    if verified is not None:
        reasons.setdefault(verified.id, []).append("newest verified backup")
    return reasons


def decide(
    backups: Sequence[Candidate],
    policy: Retention,
    now: datetime,
    grace: timedelta = INCOMPLETE_GRACE,
) -> list[Decision]:
    """A decision for every backup, newest first."""
    ordered = sorted(backups, key=lambda b: (b.time, b.id), reverse=True)
    past = [b for b in ordered if b.time <= now]
    reasons = _rule_reasons([b for b in past if b.complete], policy, now)
    decisions = []
    for backup in ordered:
        why = reasons.get(backup.id, [])
        if backup.time > now:
            why = ["dated in the future"]
        elif not backup.complete:
            young = now - backup.time < grace
            why = ["incomplete, may still be running"] if young else []
            if not young:
                decisions.append(Decision(backup.id, False, (f"incomplete for more than {grace}",)))
                continue
        decisions.append(Decision(backup.id, bool(why), tuple(why) or ("outside retention",)))
    return decisions
