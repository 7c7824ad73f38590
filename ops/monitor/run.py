"""One run of ``invoke monitor``: status -> plan -> checks -> alerts -> notifications -> report.

1. **status**: the environment's definition, its variables and secrets, the saved
   state (a definition or state store that cannot be read: exit 2, nothing changed);
   what the public URL serves and the last successful deploy;
2. **plan**: the checks that apply, and why the others do not;
3. **checks**: each one; a failure of a check that can flicker is tried again inside
   the run before it counts (a six-hourly schedule cannot wait for three failures in a
   row);
4. **alerts**: the lifecycle of :mod:`ops.monitor.alerts` over the saved state;
5. **notifications**: each alert to the channels its severity routes to; a failed
   channel is reported and never stops the others;
6. **report**: a table, the JSON report (``--json``, ``--report``), the GitHub job
   summary; the state saved (never on ``--dry-run``; ``--no-notify`` saves counters and
   the heartbeat but keeps the alert bookkeeping, so that a later run still alerts).

Exit status: 0 all ok, 1 a critical finding, 3 warnings or unknowns only (or a channel
that failed), 2 cannot run.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from ops.core.console import Console, table
from ops.core.exits import CannotRun, CheckFailed, Inconclusive, one_line
from ops.environments import (
    EnvironmentDefinition,
    environments_dir,
    known_secrets,
    load_environment,
)
from ops.live.client import VERSION_HEADER
from ops.monitor import alerts as lifecycle
from ops.monitor.alerts import Alert
from ops.monitor.checks import CHECKS, CheckSpec
from ops.monitor.context import Clock, MonitorContext, utcnow
from ops.monitor.notifiers import Delivery, deliver_all
from ops.monitor.results import Finding, Reason, Status, problem, worst
from ops.monitor.settings import Channel
from ops.monitor.state import (
    STATE_FILE,
    FileStateStore,
    MonitorState,
    StateStore,
    StorageStateStore,
)

UNSENT = "1970-01-01T00:00:00+00:00"  # a problem whose alert reached nobody: remind next run


@dataclass
class CheckOutcome:
    """What one check found, after its attempts; or why it did not run."""

    name: str
    findings: list[Finding] = field(default_factory=list)
    attempts: int = 0
    seconds: float = 0.0
    skipped: str | None = None

    @property
    def status(self) -> Status:
        """The worst of its findings."""
        return worst([finding.status for finding in self.findings])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"name": self.name, "status": self.status.value, "skipped": self.skipped,
                "attempts": self.attempts, "seconds": round(self.seconds, 3),
                "findings": [finding.to_dict() for finding in self.findings]}  # fmt: skip


@dataclass
class MonitorReport:
    """Everything one run found, decided and sent."""

    environment: str
    started_at: str
    release: str | None
    dry_run: bool
    notify: bool
    outcomes: list[CheckOutcome] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    open_problems: list[str] = field(default_factory=list)
    state: str = ""
    finished_at: str = ""

    @property
    def findings(self) -> list[Finding]:
        """Every finding of every check."""
        return [finding for outcome in self.outcomes for finding in outcome.findings]

    @property
    def verdict(self) -> Status:
        """The worst finding."""
        return worst([finding.status for finding in self.findings])

    def to_dict(self) -> dict[str, Any]:
        """The JSON report."""
        return {
            "environment": self.environment, "started_at": self.started_at,
            "finished_at": self.finished_at, "release": self.release,
            "dry_run": self.dry_run, "notify": self.notify, "verdict": self.verdict.value,
            "checks": [outcome.to_dict() for outcome in self.outcomes],
            "alerts": [alert.to_dict() for alert in self.alerts],
            "deliveries": [delivery.to_dict() for delivery in self.deliveries],
            "open_problems": self.open_problems, "state": self.state,
        }  # fmt: skip


def state_store(environment: EnvironmentDefinition, env: Mapping[str, str]) -> StateStore:
    """Where the environment's monitor state is kept (``[monitor] state``)."""
    if environment.monitor.state == "local":
        return FileStateStore(environment.state_dir / STATE_FILE)
    from ops.storage import StorageError, open_storage

    try:
        storage = open_storage(environment, env)
    except StorageError as error:
        raise CannotRun(f"monitor state store: {error}") from None
    return StorageStateStore(storage, f"{environment.name}/monitor/state.json")


def selected(names: Sequence[str], environment: EnvironmentDefinition) -> list[CheckSpec]:
    """The checks to run: ``names`` (``--check``), else the environment's list, in order."""
    unknown = [name for name in names if name not in CHECKS]
    if unknown:
        raise CannotRun(f"unknown check {unknown[0]!r} (checks: {', '.join(CHECKS)})")
    wanted = names or environment.monitor.checks
    return [spec for name, spec in CHECKS.items() if name in wanted]


def run_check(spec: CheckSpec, context: MonitorContext) -> CheckOutcome:
    """One check with its confirmation: a failing subject counts only if every attempt
    found it failing, and then with the least severe status it was seen with."""
    started = time.monotonic()
    outcome = CheckOutcome(spec.name)
    tries = context.settings.attempts if spec.confirm else 1
    best: dict[str, Finding] = {}
    for attempt in range(1, tries + 1):
        outcome.attempts = attempt
        for finding in _safely(spec, context):
            kept = best.get(finding.key)
            if kept is None or finding.status.rank < kept.status.rank:
                best[finding.key] = finding
        if not any(finding.status.is_problem for finding in best.values()):
            break
        if attempt < tries:
            context.sleep(context.settings.retry_seconds)
    outcome.findings = list(best.values())
    outcome.seconds = time.monotonic() - started
    return outcome


def _safely(spec: CheckSpec, context: MonitorContext) -> list[Finding]:
    try:
        return spec.function()(context)
    except Exception as error:  # a bug in one check must not hide the others' findings
        summary = f"the check itself failed: {type(error).__name__}: {one_line(error)}"
        return [problem(spec.name, "check", Status.UNKNOWN, Reason.MISSING, summary)]


def served_version(context: MonitorContext) -> str | None:
    """The version the public URL serves (``X-App-Version`` of its version path), if any."""
    try:
        with context.client() as client:
            response = client.http.get(context.environment.version_path)
    except (httpx.HTTPError, OSError):
        return None
    served: str | None = response.headers.get(VERSION_HEADER)
    return served


def last_deploy(environment: EnvironmentDefinition) -> dict[str, Any] | None:
    """The newest successful deploy or rollback in the environment's history, if kept here."""
    from ops.deploy.history import DeployHistory

    for record in reversed(DeployHistory(environment.state_dir).records()):
        if record.get("result") == "succeeded":
            return dict(record)
    return None


def route(alerts: Sequence[Alert], context: MonitorContext) -> dict[Channel, list[Alert]]:
    """The alerts each channel hears of."""
    routed: dict[Channel, list[Alert]] = {}
    for alert in alerts:
        for channel in lifecycle.channels(alert, context.settings):
            routed.setdefault(channel, []).append(alert)
    return routed


class MonitorRun:
    """One run against one environment."""

    def __init__(
        self, context: MonitorContext, store: StateStore, console: Console, *,
        notify: bool = True, dry_run: bool = False,
    ) -> None:  # fmt: skip
        self.context = context
        self.store = store
        self.console = console
        self.notify = notify
        self.dry_run = dry_run
        self.report = MonitorReport(
            context.name, _stamp(context.clock), context.served_version, dry_run, notify,
            state=store.description,
        )  # fmt: skip

    def run(self, specs: Sequence[CheckSpec]) -> MonitorReport:
        """Plan, check, decide, notify, save, report."""
        self._plan(specs)
        for spec in specs:
            reason = spec.applies(self.context)
            outcome = (
                CheckOutcome(spec.name, skipped=reason) if reason else run_check(spec, self.context)
            )
            self.report.outcomes.append(outcome)
            self._say(outcome)
        self._decide_and_notify()
        self._save()
        self._ping_heartbeat()
        self.report.finished_at = _stamp(self.context.clock)
        self._publish()
        return self.report

    def _plan(self, specs: Sequence[CheckSpec]) -> None:
        context = self.context
        mode = " (dry run: nothing sent, state unchanged)" if self.dry_run else ""
        self.console.say(
            f"monitor {context.name} at {context.environment.public_url}"
            f" serving {context.served_version or 'an unknown version'}{mode}"
        )
        self.console.say(f"  checks: {', '.join(spec.name for spec in specs)}")

    def _say(self, outcome: CheckOutcome) -> None:
        if outcome.skipped:
            self.console.say(f"  skip {outcome.name:<12} {outcome.skipped}")
            return
        for finding in outcome.findings:
            why = f" [{finding.reason.value}]" if finding.reason else ""
            self.console.say(
                f"  {finding.status.value:<8} {finding.key:<28}{why} {finding.summary}"
            )

    def _decide_and_notify(self) -> None:
        context = self.context
        keep_alerts = self.dry_run or not self.notify
        state = copy.deepcopy(context.state) if keep_alerts else context.state
        alerts = lifecycle.decide(
            state, self.report.findings, context.clock(), context.settings, context.served_version
        )
        self.report.alerts = alerts
        self.report.open_problems = sorted(state.problems)
        if not alerts:
            return
        if not self.notify:
            self.report.deliveries = [Delivery("all", False, "--no-notify: nothing sent")]
            return
        self.report.deliveries = deliver_all(route(alerts, context), context, dry_run=self.dry_run)
        if not self.dry_run:
            self._remind_what_reached_nobody(state)

    def _remind_what_reached_nobody(self, state: MonitorState) -> None:
        failed = {delivery.channel for delivery in self.report.deliveries if not delivery.sent}
        for alert in self.report.alerts:
            heard = set(lifecycle.channels(alert, self.context.settings)) - failed
            if not heard and alert.key in state.problems:
                state.problems[alert.key].notified_at = UNSENT

    def _save(self) -> None:
        if self.dry_run:
            return
        state = self.context.state
        now = _stamp(self.context.clock)
        state.last_run_at = now
        state.runs += 1
        if not any(
            outcome.skipped for outcome in self.report.outcomes if outcome.name != "watchdog"
        ):
            state.last_complete_run_at = now
        self.store.save(state)

    def _ping_heartbeat(self) -> None:
        """Tell an outside dead-man's switch (healthchecks.io style) that this run happened:
        ``POST URL``, or ``URL/fail`` when something is critical; a silent schedule is
        then noticed even if no later run ever comes to check the watchdog."""
        url = self.context.env.get(self.context.settings.heartbeat_url_env)
        if self.dry_run or not url:
            return
        failed = self.report.verdict is Status.CRITICAL
        target = url.rstrip("/") + ("/fail" if failed else "")
        body = {"environment": self.report.environment, "verdict": self.report.verdict.value,
                "alerts": len(self.report.alerts)}  # fmt: skip
        try:
            response = httpx.post(
                target, json=body, timeout=self.context.settings.request_timeout_seconds
            )
            sent = response.status_code < 300
            detail = f"answered {response.status_code}"
        except httpx.HTTPError as error:
            sent, detail = False, f"unreachable: {type(error).__name__}"
        self.report.deliveries.append(Delivery("heartbeat", sent, detail))

    def _publish(self) -> None:
        report = self.report
        rows = [
            [f.check, f.subject, f.status.value, f.reason.value if f.reason else "", f.summary]
            for f in report.findings
        ]
        self.console.say(table(["check", "subject", "status", "reason", "summary"], rows))
        for alert in report.alerts:
            self.console.say(
                f"alert {alert.kind.value}: {alert.status.value} {alert.key}: {alert.summary}"
            )
        for delivery in report.deliveries:
            state = "sent" if delivery.sent else "NOT SENT"
            self.console.say(f"{delivery.channel}: {state} - {delivery.detail}")
        self.console.result(report.to_dict())
        self.console.summary(markdown(report))


def markdown(report: MonitorReport) -> str:
    """The GitHub job summary of a run."""
    lines = [
        f"## Monitor {report.environment}: {report.verdict.value}", "",
        f"Release {report.release or 'unknown'}; {len(report.alerts)} alert(s).", "",
        "| check | subject | status | reason | summary |", "|---|---|---|---|---|",
    ]  # fmt: skip
    for f in report.findings:
        reason = f.reason.value if f.reason else ""
        lines.append(f"| {f.check} | {f.subject} | {f.status.value} | {reason} | {f.summary} |")
    return "\n".join(lines) + "\n"


def exit_for(report: MonitorReport) -> None:
    """Raise what the run's verdict means: 1 a critical, 3 warnings or failed channels."""
    criticals = [f for f in report.findings if f.status is Status.CRITICAL]
    if criticals:
        first = criticals[0]
        more = f" (and {len(criticals) - 1} more)" if len(criticals) > 1 else ""
        raise CheckFailed(f"critical: {first.key}: {first.summary}{more}")
    lesser = [f for f in report.findings if f.status.is_problem]
    failed = [
        d for d in report.deliveries
        if d.configured and not d.sent and not report.dry_run and report.notify
    ]  # fmt: skip
    if lesser:
        raise Inconclusive(f"{lesser[0].status.value}: {lesser[0].key}: {lesser[0].summary}")
    if failed:
        raise Inconclusive(f"all ok, but {failed[0].channel} was not notified: {failed[0].detail}")


def monitor(
    name: str,
    env: Mapping[str, str],
    console: Console,
    *,
    checks: Sequence[str] = (),
    notify: bool = True,
    dry_run: bool = False,
    clock: Clock = utcnow,
    sleep: Any = time.sleep,
) -> MonitorReport:
    """Run the monitor of environment ``name``; raises what its verdict means (see
    :func:`exit_for`) after everything is reported and saved."""
    environment = load_environment(name, environments_dir(env))
    specs = selected(checks, environment)
    variables = known_secrets(environment, env)
    store = state_store(environment, variables)
    context = MonitorContext(environment, variables, store.load(name), clock, sleep)
    context.served_version = served_version(context)
    context.last_deploy = last_deploy(environment)
    report = MonitorRun(context, store, console, notify=notify, dry_run=dry_run).run(specs)
    exit_for(report)
    return report


def _stamp(clock: Clock) -> str:
    return clock().isoformat(timespec="seconds")
