"""Retention decisions, table-driven over dates with a fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ops.backup.retention import Candidate, decide
from ops.environments import Retention

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)  # a Sunday; ISO week 2026-W11


def at(text: str) -> datetime:
    """``MM-DD HH:MM`` in 2026 (or ``YYYY-MM-DD HH:MM``), UTC."""
    full = text if text.count("-") == 2 else f"2026-{text}"
    return datetime.strptime(full, "%Y-%m-%d %H:%M").replace(tzinfo=UTC)


def kept(backups: list[Candidate], policy: Retention, now: datetime = NOW) -> list[str]:
    return sorted(d.id for d in decide(backups, policy, now) if d.keep)


def policy(last: int = 1, daily: int = 0, weekly: int = 0, monthly: int = 0) -> Retention:
    return Retention(keep_last=last, daily=daily, weekly=weekly, monthly=monthly)


HOURLY_TODAY = [Candidate(f"h{h:02d}", at(f"03-15 {h:02d}:00")) for h in range(12)]
DAILY_TWO_WEEKS = [Candidate(f"d{d:02d}", at(f"03-{d:02d} 02:00")) for d in range(1, 16)]
MONTHLY = [Candidate(f"m{m:02d}", at(f"2025-{m:02d}-28 02:00")) for m in range(1, 13)]


# (what the row shows, backups, policy, ids kept); NOW is Sunday 2026-03-15 12:00 UTC.
POLICY_TABLE = [
    ("keep last 3", HOURLY_TODAY, policy(last=3), ["h09", "h10", "h11"]),
    ("daily keeps the newest of each day", HOURLY_TODAY + DAILY_TWO_WEEKS[:-1],
     policy(last=1, daily=3), ["d13", "d14", "h11"]),
    ("daily counts calendar days, not backups", DAILY_TWO_WEEKS[:10],
     policy(last=1, daily=7), ["d09", "d10"]),
    ("weekly keeps the newest of each ISO week", DAILY_TWO_WEEKS,
     policy(last=1, weekly=3), ["d01", "d08", "d15"]),
    ("monthly keeps the newest of each month", MONTHLY + DAILY_TWO_WEEKS,
     policy(last=1, monthly=4), ["d15", "m12"]),
    ("monthly crosses the year boundary", MONTHLY, policy(last=1, monthly=5), ["m11", "m12"]),
    ("all rules together", HOURLY_TODAY + DAILY_TWO_WEEKS[:-1] + MONTHLY,
     policy(last=2, daily=2, weekly=2, monthly=6),
     ["d08", "d14", "h10", "h11", "m10", "m11", "m12"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("backups", "rules", "expected"),
    [pytest.param(*row[1:], id=row[0]) for row in POLICY_TABLE],
)
def test_policy(backups: list[Candidate], rules: Retention, expected: list[str]) -> None:
    assert kept(backups, rules) == expected


def test_months_wrap_into_last_year() -> None:
    january = datetime(2026, 1, 10, tzinfo=UTC)
    backups = [*MONTHLY, Candidate("jan", at("2026-01-05 01:00"))]
    assert kept(backups, policy(last=1, monthly=3), january) == ["jan", "m11", "m12"]


def test_the_newest_verified_backup_is_always_kept() -> None:
    backups = [
        Candidate("old-verified", at("01-01 00:00"), verified=True),
        Candidate("newer", at("03-14 00:00")),
        Candidate("newest", at("03-15 00:00")),
    ]
    decisions = {d.id: d for d in decide(backups, policy(last=1), NOW)}
    assert decisions["old-verified"].keep
    assert decisions["old-verified"].reasons == ("newest verified backup",)
    assert not decisions["newer"].keep
    assert decisions["newer"].reasons == ("outside retention",)
    assert decisions["newest"].reasons == ("newest 1 of 1",)


def test_only_the_newest_verified_is_protected() -> None:
    backups = [
        Candidate("v1", at("01-01 00:00"), verified=True),
        Candidate("v2", at("02-01 00:00"), verified=True),
        Candidate("latest", at("03-15 00:00")),
    ]
    assert kept(backups, policy(last=1)) == ["latest", "v2"]


def test_incomplete_backups_get_a_grace_period() -> None:
    backups = [
        Candidate("done", at("03-15 01:00")),
        Candidate("running", NOW - timedelta(hours=2), complete=False),
        Candidate("debris", NOW - timedelta(days=2), complete=False),
    ]
    decisions = {d.id: d for d in decide(backups, policy(last=5, daily=7), NOW)}
    assert decisions["running"].keep
    assert not decisions["debris"].keep
    assert decisions["debris"].reasons == ("incomplete for more than 1 day, 0:00:00",)


def test_incomplete_backups_never_count_as_the_newest() -> None:
    backups = [
        Candidate("done", at("03-10 01:00")),
        Candidate("partial", at("03-15 01:00"), complete=False),
    ]
    decisions = {d.id: d for d in decide(backups, policy(last=1), NOW)}
    assert decisions["done"].reasons == ("newest 1 of 1",)


def test_backups_from_the_future_are_kept() -> None:
    backups = [Candidate("now", NOW), Candidate("skewed", NOW + timedelta(hours=3))]
    decisions = {d.id: d for d in decide(backups, policy(last=1), NOW)}
    assert decisions["skewed"].reasons == ("dated in the future",)
    assert decisions["now"].keep


def test_decisions_are_newest_first_and_cover_everything() -> None:
    decisions = decide(DAILY_TWO_WEEKS, policy(last=2), NOW)
    assert [d.id for d in decisions] == [c.id for c in reversed(DAILY_TWO_WEEKS)]
    assert sum(d.keep for d in decisions) == 2
