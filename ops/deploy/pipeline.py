"""The deploy pipeline, the same on every platform: one ordered list of steps,
:data:`STEPS` (each step defined below with :func:`step`, in order), drives the plan that
is printed, the run, and the record.

A run follows status -> plan -> confirm -> apply -> verify (the model is
pyinvoke/invocations' release tasks): it reads what serves now, prints the steps
that apply, and runs them in order -- each step naming what it does, when it
applies and what its failure means (:class:`IfItFails`): nothing changes before
the lock and the approval; until the switch a failure only discards the
candidate, and the previous release keeps serving; after it, a failed
verification releases the previous version again through the same steps. Every
run -- succeeded, failed, refused or rolled back -- then ends with its record:
the history line, a JSON report, a tag for production, a notification.
``docs/deploy.md`` shows :data:`STEPS` as a table (:func:`ops.deploy.views.steps_table`).
"""

from __future__ import annotations

import inspect
import secrets as random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from functools import partial
from pathlib import Path
from typing import Literal, NoReturn

from ops.core.commands import CommandError
from ops.core.console import Console, to_json, write_atomically
from ops.core.exits import CannotRun, CheckFailed
from ops.core.git import annotated_tag
from ops.core.notify import send
from ops.core.steps import StepFailed, StepLog
from ops.deploy import gates, views
from ops.deploy.context import DeployContext
from ops.deploy.history import DeployRecord, who
from ops.deploy.platforms import Candidate
from ops.environments import EnvironmentDefinition
from ops.project import ROOT

Action = Literal["deploy", "rollback"]
Backup = Callable[[DeployContext, Console], str]
"""The pre-deploy backup: given the environment and the run's console (for
:meth:`~ops.core.console.Console.part`), returns what it backed up; raises on failure."""
LATENCY_PATH = "/v1/market/AAPL/book"
LATENCY_REQUEST = "GET /v1/market/{symbol}/book"  # whose SLO p95 is the budget


@dataclass(frozen=True)
class DeployRequest:
    """What to deploy, and how carefully."""

    version: str
    action: Action = "deploy"
    source: Path = ROOT
    dry_run: bool = False
    yes: bool = False
    wait: bool = False
    message: str = ""


@dataclass(frozen=True, slots=True)
class Condition:
    """When a step applies: in words (for the plan and the docs) and as a test."""

    says: str
    holds: Callable[[DeployRequest, EnvironmentDefinition], bool]


ALWAYS = Condition("always", lambda request, environment: True)
APPROVAL_REQUIRED = Condition(
    "`approval_required`", lambda request, environment: environment.approval_required
)
DEPLOYING = Condition("deploy (not rollback)", lambda request, _: request.action == "deploy")
BACKING_UP = Condition(
    "deploy, with `pre_deploy_backup`",
    lambda request, environment: request.action == "deploy" and environment.pre_deploy_backup,
)


class IfItFails(Enum):
    """What a step's failure means for the run."""

    REFUSE = "refused (exit 2): nothing has changed"
    OLD_SERVES = "failed (exit 1): what served keeps serving"
    DISCARD = "failed (exit 1): the candidate is discarded, what served keeps serving"
    ROLL_BACK = "failed (exit 1): the previous release goes through start to verify again"
    NEW_SERVES = "failed (exit 1): the new release serves"


StepAction = Callable[["DeployRun", str], str]
"""What a step does, given the run and the version being released; returns its detail."""


@dataclass(frozen=True, slots=True)
class PipelineStep:
    """One step of the pipeline."""

    name: str
    does: str
    action: StepAction
    when: Condition = ALWAYS
    if_it_fails: IfItFails = IfItFails.OLD_SERVES
    per_version: bool = False  # part of releasing one version: repeated on roll back


class DeployFailed(CheckFailed):
    """A step, gate or verification failed (a roll back included); exit 1."""


class DeployRefused(CannotRun):
    """Refused before anything changed (lock held, approval missing or refused); exit 2."""


STEPS: list[PipelineStep] = []
"""The pipeline: every step below, in the order it is defined."""


def step(
    name: str,
    when: Condition = ALWAYS,
    if_it_fails: IfItFails = IfItFails.OLD_SERVES,
    *,
    per_version: bool = False,
) -> Callable[[StepAction], StepAction]:
    """Make the decorated function the next step of :data:`STEPS`; the first line of its
    docstring says what the step does."""

    def add(action: StepAction) -> StepAction:
        does = inspect.getdoc(action) or name
        summary = does.splitlines()[0].removesuffix(".")
        STEPS.append(PipelineStep(name, summary, action, when, if_it_fails, per_version))
        return action

    return add


# -- the steps, in order --------------------------------------------------------------


@step("lock", if_it_fails=IfItFails.REFUSE)
def _take_lock(run: DeployRun, version: str) -> str:
    """Take the environment's deploy lock (held until the run is recorded)."""
    request = run.request
    wait = run.environment.timeouts.lock_wait_seconds if request.wait else 0
    info = run.lock.acquire(version, request.message or request.action, wait)
    notes = "; ".join(run.lock.notes)
    return f"held by {info.holder}@{info.host}" + (f" ({notes})" if notes else "")


@step("approval", APPROVAL_REQUIRED, IfItFails.REFUSE)
def _approve(run: DeployRun, version: str) -> str:
    """Approval: `--yes`, or the operator types the environment's name."""
    name, action = run.environment.name, run.request.action
    return run.console.approve(
        f"{action.capitalize()} {version} to {name}?", name, yes=run.request.yes,
        needed_for=f"{action} to {name}",
    )  # fmt: skip


@step("backup", BACKING_UP)
def _back_up(run: DeployRun, version: str) -> str:
    """Back up the database and verify the backup."""
    if run.backup is None:
        raise DeployFailed("no backup function configured")
    return run.backup(run.context, run.console)


@step("build", DEPLOYING)
def _build(run: DeployRun, version: str) -> str:
    """Build the release, or reuse it when built before."""
    return run.platform.build(version, run.request.source)


@step("migrate", DEPLOYING)
def _migrate(run: DeployRun, version: str) -> str:
    """Run the release's migrations (expand/contract)."""
    return run.platform.migrate(version)


@step("start", if_it_fails=IfItFails.DISCARD, per_version=True)
def _start(run: DeployRun, version: str) -> str:
    """Start the release beside what serves, without traffic."""
    run.candidate = run.platform.start(version)
    notes = "; ".join(run.candidate.notes)
    return f"{version} started ({run.candidate.target.describe()})" + (
        f"; {notes}" if notes else ""
    )


@step("readiness", if_it_fails=IfItFails.DISCARD, per_version=True)
def _readiness(run: DeployRun, version: str) -> str:
    """The release's readiness path answers 200 within `timeouts.readiness_seconds`."""
    candidate = run.started()
    return gates.readiness(
        candidate.target, run.environment.readiness_path,
        run.environment.timeouts.readiness_seconds, alive=partial(run.platform.alive, candidate),
    )  # fmt: skip


@step("smoke", if_it_fails=IfItFails.DISCARD, per_version=True)
def _smoke(run: DeployRun, version: str) -> str:
    """The `gates.smoke` checks pass against the release directly."""
    checks, credentials = run.environment.gates.smoke, run.context.smoke_credentials()
    return "; ".join(gates.smoke(run.started().target, checks, version, credentials))


@step("latency", if_it_fails=IfItFails.DISCARD, per_version=True)
def _latency(run: DeployRun, version: str) -> str:
    """The p95 of `gates.probes` order-book requests is within its p95 objective (`[perf]`)."""
    budget_ms = latency_budget_ms(run.environment)
    probes = run.environment.gates.probes
    return gates.latency(run.started().target, LATENCY_PATH, probes, budget_ms)


def latency_budget_ms(environment: EnvironmentDefinition) -> float:
    """The latency gate's budget: the order book's p95 in the environment's SLOs
    (deploy/perf.toml, its ``[perf]`` over it)."""
    return environment.slo().request(LATENCY_REQUEST).p95_ms


@step("switch", if_it_fails=IfItFails.DISCARD, per_version=True)
def _switch(run: DeployRun, version: str) -> str:
    """Send the traffic to the release."""
    detail = run.platform.switch(run.started())
    run.serving = version
    return detail


@step("drain", if_it_fails=IfItFails.NEW_SERVES, per_version=True)
def _drain(run: DeployRun, version: str) -> str:
    """The previous release finishes its requests, then stops."""
    return run.platform.drain(run.started())


@step("verify", if_it_fails=IfItFails.ROLL_BACK, per_version=True)
def _verify(run: DeployRun, version: str) -> str:
    """The public URL serves the new version within `timeouts.verify_seconds`."""
    environment = run.environment
    return gates.verify(
        environment.public_url, environment.version_path, version,
        environment.timeouts.verify_seconds,
    )  # fmt: skip


@step("prune", if_it_fails=IfItFails.NEW_SERVES)
def _prune(run: DeployRun, version: str) -> str:
    """Remove releases beyond `releases_to_keep` (never the new or previous one)."""
    protect = {run.request.version, *([run.record.previous] if run.record.previous else [])}
    removed = run.platform.prune(run.environment.releases_to_keep, protect)
    return f"removed {', '.join(removed)}" if removed else "nothing to remove"


class DeployRun:
    """One deploy or rollback of one environment, and its record."""

    def __init__(
        self,
        context: DeployContext,
        request: DeployRequest,
        console: Console,
        backup: Backup | None = None,
    ) -> None:
        self.context = context
        self.environment = context.environment
        self.platform = context.platform
        self.request = request
        self.console = console
        self.backup = backup
        self.lock = context.deploy_lock()
        now = datetime.now(UTC)
        self.record = DeployRecord(
            id=now.strftime("%Y%m%dT%H%M%SZ") + "-" + random.token_hex(3),
            action=request.action,
            environment=self.environment.name,
            version=request.version,
            previous=None,
            who=who(context.env),
            started_at=now.isoformat(timespec="seconds"),
        )
        self.log = StepLog(console.say, self.record.steps)
        # What the run has done so far, decided by its steps.
        self.serving: str | None = None
        self.candidate: Candidate | None = None
        self.rolled_back_to: str | None = None

    @property
    def plan(self) -> list[PipelineStep]:
        """The steps of :data:`STEPS` that apply to this request, in order."""
        return [step for step in STEPS if step.when.holds(self.request, self.environment)]

    def run(self) -> DeployRecord:
        """Status, plan, then (unless a dry run) every step and the record. Raises
        :class:`DeployRefused` or :class:`DeployFailed` after recording the run."""
        self.serving = self.record.previous = self.platform.serving_version()
        self.record.plan = [step.name for step in self.plan]
        budget_ms = latency_budget_ms(self.environment)
        for line in views.plan(
            self.record, self.environment, self.platform.name, self.plan, budget_ms
        ):
            self.console.say(line)
        if self.request.dry_run:
            self.record.result = "dry-run"
            self.console.say("dry run: nothing changed")
            self.console.result(self.record.to_dict())
            return self.record
        started = time.monotonic()
        try:
            result, reason = self._apply()
            self._finish(result, reason, time.monotonic() - started)
        finally:
            self._release_lock()
        if result == "refused":
            raise DeployRefused(f"{self.request.action} refused: {reason}")
        if result != "succeeded":
            raise DeployFailed(f"{self.request.action} failed: {reason}")
        return self.record

    def _release_lock(self) -> None:
        """Give the lock back, and say what its release noted (a lock it could not delete)."""
        noted = len(self.lock.notes)
        self.lock.release()
        for note in self.lock.notes[noted:]:
            self.console.say(f"  {note}")

    def _apply(self) -> tuple[str, str]:
        """Run the plan; the result and the reason it did not succeed."""
        try:
            self._run_steps(self.plan, self.request.version)
        except DeployRefused as refusal:
            return "refused", str(refusal)
        except DeployFailed as failure:
            return ("rolled_back" if self.rolled_back_to else "failed"), str(failure)
        return "succeeded", ""

    def _run_steps(self, steps: Sequence[PipelineStep], version: str) -> None:
        for step in steps:
            try:
                self.log.run(step.name, partial(step.action, self, version))
            except StepFailed as failure:
                self._after_failure(step, version, str(failure))

    def _after_failure(self, step: PipelineStep, version: str, reason: str) -> NoReturn:
        if step.if_it_fails is IfItFails.REFUSE:
            raise DeployRefused(reason)
        if step.if_it_fails is IfItFails.DISCARD:
            self._discard(version)
        if step.if_it_fails is IfItFails.ROLL_BACK:
            self._roll_back(version, reason)
        raise DeployFailed(reason)

    def _discard(self, version: str) -> None:
        candidate, self.candidate = self.candidate, None
        if candidate is None:
            return
        self.console.say(f"  last log lines of {version}:")
        for line in self.platform.logs(candidate).splitlines():
            self.console.say(f"    {line}")
        discarded = self.platform.discard(candidate)
        self.console.say(f"  {discarded}; {self.serving or 'nothing'} keeps serving")

    def _roll_back(self, version: str, reason: str) -> None:
        """Release the previous version again through the same steps, then fail; returns
        when there is none, or when ``version`` is already the roll back."""
        previous = self.record.previous
        if version != self.request.version or previous is None or previous == version:
            return
        self.console.say(f"  verification failed; rolling back to {previous}")
        try:
            self._run_steps([step for step in self.plan if step.per_version], previous)
        except DeployFailed as failure:
            raise DeployFailed(f"{reason}; rolling back to {previous} failed: {failure}") from None
        self.rolled_back_to = previous
        raise DeployFailed(f"{reason}; rolled back to {previous}")

    def started(self) -> Candidate:
        """The candidate the start step started."""
        if self.candidate is None:
            raise DeployFailed("no candidate was started")
        return self.candidate

    def _finish(self, result: str, reason: str, seconds: float) -> None:
        record = self.record
        record.result, record.reason, record.duration_seconds = result, reason, round(seconds, 3)
        self.context.history.append(record)
        report = self.context.reports_dir / f"{record.id}.json"
        write_atomically(report, to_json(record.to_dict()) + "\n")
        if record.succeeded and self.environment.is_production:
            self.console.say(f"  tag: {git_tag(record)}")
        webhook = self.environment.notify.slack_webhook_env
        delivery = send(views.announcement(record), webhook, self.context.env)
        self.console.say(views.outcome(record, delivery.detail))
        self.console.summary(views.summary(record))
        self.console.result(record.to_dict())


TAGGER_EMAIL = "deploy@invalid"  # a reserved domain: the tagger is named, never mailed


def git_tag(record: DeployRecord) -> str:
    """Tag the deployed commit (``deploy/<env>/<id>``) with the deployer as its tagger;
    returns the tag or why not (CD pushes the tag, and fails when there is none)."""
    tag = f"deploy/{record.environment}/{record.id}"
    message = f"{record.action} {record.version} to {record.environment} by {record.who}"
    try:
        return annotated_tag(tag, message, cwd=ROOT, tagger=(record.who or "deploy", TAGGER_EMAIL))
    except CommandError as error:
        return f"not tagged: {error}"
