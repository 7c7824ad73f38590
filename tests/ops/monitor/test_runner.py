"""The monitor's framework: settings, findings, confirmation inside the run, the state,
the verdict's exit code -- driven with stand-in checks so that each rule is shown alone."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from ops.core.console import Console
from ops.core.exits import CannotRun, CheckFailed, Inconclusive
from ops.environments import EnvironmentDefinition, load_environment
from ops.monitor import run as runner
from ops.monitor.checks import CHECKS, CheckSpec
from ops.monitor.context import MonitorContext, increase
from ops.monitor.notifiers import Delivery
from ops.monitor.results import Finding, Reason, Status, graded, ok, problem, worst
from ops.monitor.settings import ALL_CHECKS, MonitorSettings
from ops.monitor.state import (
    FileStateStore,
    MonitorState,
    OpenProblem,
    StateStore,
    StorageStateStore,
)
from ops.storage import LocalStorage
from tests.support.webhook import Webhook

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def definition(tmp_path: Path, **monitor: object) -> EnvironmentDefinition:
    """A local environment whose state lives in ``tmp_path``."""
    local = load_environment("local")
    settings = MonitorSettings.model_validate({"retry_seconds": 0, **monitor})
    return local.model_copy(
        update={
            "monitor": settings,
            "local": local.local.model_copy(update={"state_dir": str(tmp_path)}),
        }
    )


def context(tmp_path: Path, **monitor: object) -> MonitorContext:
    return MonitorContext(definition(tmp_path, **monitor), {}, MonitorState("local"), lambda: NOW,
                          lambda _seconds: None)  # fmt: skip


class Flaky:
    """A stand-in check whose answers a test scripts, one list of findings per attempt."""

    def __init__(self, *attempts: list[Finding]) -> None:
        self.attempts = list(attempts)
        self.calls = 0

    def __call__(self, _context: MonitorContext) -> list[Finding]:
        self.calls += 1
        return self.attempts[min(self.calls, len(self.attempts)) - 1]


@pytest.fixture
def spec(monkeypatch: pytest.MonkeyPatch) -> tuple[CheckSpec, list[Flaky]]:
    """The availability spec, its function replaced by whatever Flaky a test sets."""
    holder: list[Flaky] = []
    monkeypatch.setattr(CheckSpec, "function", lambda self: holder[0])
    return CHECKS["availability"], holder


DOWN = problem("availability", "/ready", Status.CRITICAL, Reason.STATUS, "answered 503")
SLOW = problem("availability", "/ready", Status.WARNING, Reason.LATENCY, "200 in 900 ms")
UP = ok("availability", "/ready", "200 in 5 ms")


def test_a_failure_counts_only_when_every_attempt_sees_it(
    tmp_path: Path, spec: tuple[CheckSpec, list[Flaky]]
) -> None:
    check, holder = spec
    holder.append(Flaky([DOWN], [UP]))
    flicker = runner.run_check(check, context(tmp_path, attempts=3))
    assert [f.status for f in flicker.findings] == [Status.OK]
    assert flicker.attempts == 2, "it stopped retrying once the subject passed"
    holder[0] = Flaky([DOWN], [SLOW], [DOWN])
    confirmed = runner.run_check(check, context(tmp_path, attempts=3))
    assert confirmed.attempts == 3
    assert confirmed.findings == [SLOW], "the least severe status seen across the attempts"
    holder[0] = Flaky([DOWN])
    once = runner.run_check(check, context(tmp_path, attempts=1))
    assert once.findings == [DOWN]


def test_a_check_that_crashes_is_unknown_and_the_run_goes_on(
    tmp_path: Path, spec: tuple[CheckSpec, list[Flaky]]
) -> None:
    check, holder = spec

    def broken(_context: MonitorContext) -> list[Finding]:
        raise KeyError("status")

    holder.append(broken)  # type: ignore[arg-type]
    outcome = runner.run_check(check, context(tmp_path, attempts=1))
    [finding] = outcome.findings
    assert (finding.status, finding.reason) == (Status.UNKNOWN, Reason.MISSING)
    assert finding.summary == "the check itself failed: KeyError: 'status'"


def test_only_registered_checks_can_be_asked_for(tmp_path: Path) -> None:
    environment = definition(tmp_path, checks=["watchdog", "availability"])
    assert [s.name for s in runner.selected([], environment)] == ["availability", "watchdog"]
    assert [s.name for s in runner.selected(["tls"], environment)] == ["tls"]
    with pytest.raises(CannotRun, match=r"^unknown check 'uptime' \(checks: availability, "):
        runner.selected(["uptime"], environment)
    assert tuple(CHECKS) == ALL_CHECKS


def test_findings_and_grades() -> None:
    with pytest.raises(ValueError, match="a critical finding needs a reason"):
        Finding("x", "y", Status.CRITICAL, "bad")
    assert graded(0.5, 0.8, 0.95) is Status.OK
    assert graded(0.85, 0.8, 0.95) is Status.WARNING
    assert graded(0.97, 0.8, 0.95) is Status.CRITICAL
    assert graded(0.7, 0.9, higher_is_worse=False) is Status.WARNING, "a hit ratio too low"
    assert worst([Status.OK, Status.UNKNOWN, Status.WARNING]) is Status.WARNING
    assert worst([]) is Status.OK
    assert DOWN.key == "availability//ready"
    assert DOWN.to_dict()["reason"] == "status"


def test_counters_and_their_resets(tmp_path: Path) -> None:
    probe = context(tmp_path)
    assert probe.remember("postgres", "deadlocks", 10) is None
    assert probe.remember("postgres", "deadlocks", 14) == 10
    assert increase(None, 5) is None, "the first run only records"
    assert increase(10, 14) == 4
    assert increase(14, 3) == 3, "a reset (a restart): the counter started over"


def test_state_survives_in_a_file_and_in_storage(tmp_path: Path) -> None:
    state = MonitorState("local", runs=4, last_run_at="2026-12-01T06:00:00+00:00")
    state.problems["a/b"] = OpenProblem("a/b", "critical", "status", "x", "t0", "t0")
    in_storage = StorageStateStore(LocalStorage(tmp_path / "store"), "local/monitor/state.json")
    stores: list[StateStore] = [FileStateStore(tmp_path / "state.json"), in_storage]
    for store in stores:
        assert store.load("local") == MonitorState("local"), "nothing saved yet: a fresh state"
        store.save(state)
        assert store.load("local") == state
    (tmp_path / "state.json").write_text("{not json")
    with pytest.raises(CannotRun, match=r"is not JSON"):
        stores[0].load("local")
    (tmp_path / "state.json").write_text(json.dumps({"format": 1, "environment": "staging"}))
    with pytest.raises(CannotRun, match=r"is for 'staging' format 1, expected 'local' format 1"):
        stores[0].load("local")


def test_the_verdict_is_the_exit_code(tmp_path: Path) -> None:
    report = runner.MonitorReport("local", "t", None, dry_run=False, notify=True)
    report.outcomes = [runner.CheckOutcome("availability", [UP])]
    runner.exit_for(report)  # all ok: returns
    report.outcomes = [runner.CheckOutcome("availability", [SLOW])]
    with pytest.raises(Inconclusive, match=r"^warning: availability//ready: 200 in 900 ms$"):
        runner.exit_for(report)
    report.outcomes.append(runner.CheckOutcome("version", [DOWN, DOWN]))
    with pytest.raises(
        CheckFailed, match=r"^critical: availability//ready: answered 503 \(and 1 more\)$"
    ):
        runner.exit_for(report)
    report.outcomes = [runner.CheckOutcome("availability", [UP])]
    report.deliveries = [Delivery("slack", False, "webhook answered 500")]
    with pytest.raises(
        Inconclusive, match=r"all ok, but slack was not notified: webhook answered 500"
    ):
        runner.exit_for(report)


def test_a_run_saves_its_heartbeat_and_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], spec: tuple[CheckSpec, list[Flaky]]
) -> None:
    check, holder = spec
    holder.append(Flaky([DOWN]))
    probe = context(tmp_path, attempts=1)
    store = FileStateStore(tmp_path / "state.json")
    report_file = tmp_path / "report.json"
    run = runner.MonitorRun(probe, store, Console(report=report_file), notify=False)
    report = run.run([check])
    saved = store.load("local")
    assert saved.last_complete_run_at == NOW.isoformat(timespec="seconds")
    assert saved.runs == 1
    assert saved.problems == {}, "--no-notify keeps the alert bookkeeping for a notifying run"
    assert [a.kind.value for a in report.alerts] == ["new"]
    written = json.loads(report_file.read_text())
    assert written["verdict"] == "critical"
    assert written["checks"][0]["findings"][0]["reason"] == "status"
    assert "availability  /ready   critical  status" in capsys.readouterr().out


def test_a_dry_run_changes_no_state(tmp_path: Path, spec: tuple[CheckSpec, list[Flaky]]) -> None:
    check, holder = spec
    holder.append(Flaky([DOWN]))
    store = FileStateStore(tmp_path / "state.json")
    runner.MonitorRun(context(tmp_path, attempts=1), store, Console(), dry_run=True).run([check])
    assert not (tmp_path / "state.json").exists()


def test_the_watchdog_notices_a_stopped_schedule(tmp_path: Path) -> None:
    from ops.monitor.checks.watchdog import watchdog

    probe = context(tmp_path, schedule_hours=6, grace_hours=1)
    [first] = watchdog(probe)
    assert (first.status, first.summary) == (Status.OK, "first run: no heartbeat to compare with")
    probe.state.last_complete_run_at = (NOW - timedelta(hours=5)).isoformat()
    assert watchdog(probe)[0].status is Status.OK
    probe.state.last_complete_run_at = (NOW - timedelta(hours=14)).isoformat()
    [late] = watchdog(probe)
    assert (late.status, late.reason) == (Status.CRITICAL, Reason.STALE)
    assert late.summary.startswith("the previous run was 14.0 h ago (schedule 6 h + 1 h grace)")


def test_monitor_settings_come_from_the_definition(tmp_path: Path) -> None:
    (tmp_path / "qa.toml").write_text(
        'platform = "local"\npublic_url = "http://127.0.0.1:1"\n'
        "[monitor]\nattempts = 5\n[monitor.latency]\np95_warning_ms = 80\n"
    )
    qa = load_environment("qa", tmp_path)
    assert qa.monitor.attempts == 5
    assert qa.monitor.latency.p95_warning_ms == 80
    assert qa.monitor.latency.p95_critical_ms == MonitorSettings().latency.p95_critical_ms
    (tmp_path / "bad.toml").write_text(
        'platform = "local"\npublic_url = "http://127.0.0.1:1"\n[monitor]\nchecks = ["uptime"]\n'
    )
    with pytest.raises(
        CannotRun, match=r"bad.toml: monitor.checks.0: Input should be 'availability'"
    ):
        load_environment("bad", tmp_path)


def test_an_outside_heartbeat_hears_of_each_run(
    tmp_path: Path, webhook: Webhook, spec: tuple[CheckSpec, list[Flaky]]
) -> None:
    check, holder = spec
    holder.append(Flaky([UP]))
    probe = context(tmp_path, attempts=1)
    probe.env = {"MONITOR_HEARTBEAT_URL": webhook.url}
    store = FileStateStore(tmp_path / "state.json")
    passed = runner.MonitorRun(probe, store, Console(), notify=False).run([check])
    holder[0] = Flaky([DOWN])
    failed = runner.MonitorRun(probe, store, Console(), notify=False).run([check])
    path = urlsplit(webhook.url).path
    assert webhook.paths == [path, path + "/fail"], "a critical run pings /fail"
    assert [body["verdict"] for body in webhook.received] == ["ok", "critical"]
    assert passed.deliveries[-1] == Delivery("heartbeat", True, "answered 200")
    webhook.status = 500
    refused = runner.MonitorRun(probe, store, Console(), notify=False).run([check])
    assert refused.deliveries[-1] == Delivery("heartbeat", False, "answered 500")
    assert failed.verdict is Status.CRITICAL
