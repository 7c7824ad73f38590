"""The alert lifecycle over a fake clock: one alert when a problem is new, one when it gets
worse, a reminder at most every ``reminder_hours``, one recovery after ``recover_after``
passing runs -- and routing by severity."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from ops.monitor.alerts import Alert, AlertKind, channels, decide
from ops.monitor.results import Finding, Reason, Status, ok, problem
from ops.monitor.settings import MonitorSettings, Routes
from ops.monitor.state import MonitorState
from tests.support.workspace import FakeClock

DOWN = problem("availability", "/ready", Status.CRITICAL, Reason.STATUS, "answered 503")
SLOW = problem("availability", "/ready", Status.WARNING, Reason.LATENCY, "200 in 900 ms")
UP = ok("availability", "/ready", "200 in 5 ms")
HEALTH = ok("availability", "/health", "200 in 3 ms")
STALE = problem("backups", "db", Status.CRITICAL, Reason.STALE, "newest backup 40 h old")


class Schedule:
    """Runs of the monitor six hours apart, against one state."""

    def __init__(self, **settings: object) -> None:
        self.state = MonitorState("staging")
        self.clock = FakeClock()
        self.settings = MonitorSettings.model_validate(settings)

    def run(self, *findings: Finding, hours: float = 6) -> list[tuple[AlertKind, str]]:
        """One run's alerts as (kind, key); then the clock moves on."""
        alerts = decide(self.state, findings, self.clock(), self.settings, release="1.4.0")
        self.clock.advance(hours=hours)
        return [(alert.kind, alert.key) for alert in alerts]

    def runs(self, count: int, *findings: Finding) -> list[tuple[AlertKind, str]]:
        """``count`` runs with the same findings; every alert they raised."""
        return [alert for _ in range(count) for alert in self.run(*findings)]


def test_a_new_problem_alerts_once_then_reminds_once_a_day() -> None:
    schedule = Schedule(reminder_hours=24)
    assert schedule.run(DOWN, HEALTH) == [(AlertKind.NEW, "availability//ready")]
    assert schedule.runs(3, DOWN, HEALTH) == [], "18 hours later: no repeat"
    assert schedule.run(DOWN, HEALTH) == [(AlertKind.REMINDER, "availability//ready")]
    assert schedule.runs(3, DOWN) == [], "the reminder restarted the interval"
    assert schedule.run(DOWN) == [(AlertKind.REMINDER, "availability//ready")]
    known = schedule.state.problems["availability//ready"]
    assert (known.reminders, known.opened_at) == (2, "2026-03-15T12:00:00+00:00")


def test_getting_worse_alerts_once_and_flapping_does_not() -> None:
    schedule = Schedule()
    assert schedule.run(SLOW) == [(AlertKind.NEW, "availability//ready")]
    assert schedule.run(DOWN) == [(AlertKind.WORSE, "availability//ready")]
    assert schedule.run(DOWN) == []
    assert schedule.run(SLOW) == [], "better is not news"
    assert schedule.run(DOWN) == [], "no worse than it has already been alerted as"
    assert schedule.state.problems["availability//ready"].status == "critical"


def test_recovery_takes_two_passing_runs_and_is_said_once() -> None:
    schedule = Schedule(recover_after=2)
    schedule.run(DOWN)
    assert schedule.run(UP) == [], "one pass is not a recovery"
    assert schedule.run(DOWN) == [], "it failed again before recovering: the same problem"
    assert schedule.run(UP) == [], "the passes started over"
    assert schedule.run(UP) == [(AlertKind.RECOVERED, "availability//ready")]
    assert schedule.state.problems == {}, "the problem is closed"
    assert schedule.runs(3, UP) == []
    assert schedule.run(DOWN) == [(AlertKind.NEW, "availability//ready")], "a new episode"


def test_a_recovery_names_the_worst_status_and_the_opening() -> None:
    schedule = Schedule(recover_after=1)
    schedule.run(DOWN)
    schedule.run(SLOW)
    [recovery] = decide(schedule.state, [UP], schedule.clock(), schedule.settings)
    assert recovery == Alert(
        AlertKind.RECOVERED,
        "availability//ready",
        Status.CRITICAL,
        "latency",
        "200 in 900 ms",
        "2026-03-15T12:00:00+00:00",
        "1.4.0",
    )
    assert recovery.fingerprint == "availability//ready"
    assert recovery.to_dict()["status"] == "critical"


def test_a_check_that_did_not_run_changes_nothing() -> None:
    schedule = Schedule()
    schedule.run(STALE)
    before = dict(vars(schedule.state.problems["backups/db"]))
    assert schedule.runs(8, UP, HEALTH) == [], "two days of runs without the backups check"
    assert vars(schedule.state.problems["backups/db"]) == before


def test_a_subject_a_passing_check_no_longer_names_has_passed() -> None:
    refused = problem("postgres", "connect", Status.CRITICAL, Reason.CONNECT, "refused")
    figures = [ok("postgres", "connections", "12 of 100"), ok("postgres", "size", "1 GB")]
    schedule = Schedule(recover_after=2)
    schedule.run(refused)
    assert schedule.run(*figures) == []
    assert schedule.run(*figures) == [(AlertKind.RECOVERED, "postgres/connect")]


def test_a_check_failing_part_way_does_not_vouch_for_what_it_did_not_reach() -> None:
    cancel = problem("journey", "cancel", Status.CRITICAL, Reason.STATUS, "cancel answered 500")
    login = problem("journey", "login", Status.CRITICAL, Reason.STATUS, "login answered 401")
    schedule = Schedule(recover_after=1)
    schedule.run(cancel)
    assert schedule.run(login) == [(AlertKind.NEW, "journey/login")]
    assert "journey/cancel" in schedule.state.problems, "the journey stopped before cancel"


def alert(status: Status, kind: AlertKind = AlertKind.NEW) -> Alert:
    return Alert(kind, "availability//ready", status, "status", "answered 503", "t0")


@pytest.mark.parametrize(
    ("status", "kind", "heard_by"),
    [
        (Status.CRITICAL, AlertKind.NEW, ["slack", "email", "github"]),
        (Status.WARNING, AlertKind.NEW, ["slack", "github"]),
        (Status.UNKNOWN, AlertKind.REMINDER, ["slack", "github"]),
        (Status.CRITICAL, AlertKind.RECOVERED, ["slack", "email", "github"]),
        (Status.WARNING, AlertKind.RECOVERED, ["slack", "github"]),
    ],
)
def test_criticals_and_warnings_route_separately(
    status: Status, kind: AlertKind, heard_by: Sequence[str]
) -> None:
    assert channels(alert(status, kind), MonitorSettings()) == heard_by


def test_routes_come_from_the_settings() -> None:
    settings = MonitorSettings(routes=Routes(critical=["email"], warning=[]))
    assert channels(alert(Status.CRITICAL), settings) == ["email"]
    assert channels(alert(Status.WARNING), settings) == [], "warnings heard by nobody"
    with pytest.raises(ValueError, match="Input should be 'slack', 'email' or 'github'"):
        Routes.model_validate({"critical": ["pager"]})
