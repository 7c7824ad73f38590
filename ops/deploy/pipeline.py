"""The deploy sequence, the same on every platform (Kamal's, with gates before traffic):

plan -> lock -> approval -> backup -> build -> migrate -> start -> readiness -> smoke
-> latency -> switch -> drain -> verify -> prune -> record

Nothing changes before the lock is held and the approval given. Until the
switch, a failure only ever discards the new release: the previous one keeps
serving. After the switch, a failed verification rolls back automatically to
the previous release, through the same gates. Every run -- succeeded, failed,
refused or rolled back -- is appended to the environment's audit log, and
announced when a webhook is configured.
"""

from __future__ import annotations

import getpass
import json
import os
import secrets as random
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import httpx

from app.services.seed import DEMO_PASSWORD
from ops.core import environ
from ops.core.notify import Message, send
from ops.deploy import gates
from ops.deploy.audit import AuditLog, DeployRecord, StepRecord
from ops.deploy.lock import DeployLock, LockHeld
from ops.deploy.platforms.base import Candidate, Platform, PlatformError
from ops.environments import EnvironmentDefinition
from ops.project import ROOT

Action = Literal["deploy", "rollback"]
Confirm = Callable[[str], bool]
Backup = Callable[[EnvironmentDefinition, dict[str, str]], str]


class DeployFailed(Exception):
    """The deploy did not succeed; the message is one line, the record says the rest."""

    def __init__(self, message: str, record: DeployRecord | None = None) -> None:
        super().__init__(message)
        self.record = record


class StepFailed(Exception):
    """One step failed."""


@dataclass
class DeployRequest:
    """What to deploy where, and how carefully."""

    environment: EnvironmentDefinition
    version: str
    action: Action = "deploy"
    source: Path = ROOT
    dry_run: bool = False
    yes: bool = False
    wait: bool = False
    message: str = ""
    interactive: bool = field(default_factory=lambda: sys.stdin.isatty())


def stderr(line: str) -> None:
    """Progress goes to stderr, so ``--json`` output on stdout stays clean."""
    print(line, file=sys.stderr, flush=True)


def who() -> str:
    """The person (or CI actor) deploying."""
    actor = os.environ.get("GITHUB_ACTOR")
    user = getpass.getuser()
    return f"{actor} (via {user})" if actor else user


class Pipeline:
    """One deploy or rollback of one environment."""

    def __init__(
        self,
        request: DeployRequest,
        platform: Platform,
        secrets: dict[str, str],
        *,
        out: Callable[[str], None] = stderr,
        confirm: Confirm | None = None,
        backup: Backup | None = None,
    ) -> None:
        self.request = request
        self.environment = request.environment
        self.platform = platform
        self.secrets = secrets
        self.out = out
        self.confirm = confirm or self._confirm_by_name
        self.backup = backup
        state = self.environment.state_dir
        self.audit = AuditLog(state / "audit.jsonl")
        self.lock = DeployLock(state / "deploy.lock")
        self.reports = state / "reports"
        self.record = DeployRecord(
            id=datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + random.token_hex(3),
            action=request.action,
            environment=self.environment.name,
            version=request.version,
            previous=None,
            who=who(),
            started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )

    # -- plan --------------------------------------------------------------------------

    def steps(self) -> list[str]:
        """The steps this run will take, in order."""
        environment = self.environment
        names = ["lock"]
        if environment.approval_required:
            names.append("approval")
        if environment.pre_deploy_backup and self.request.action == "deploy":
            names.append("backup")
        if self.request.action == "deploy":
            names += ["build", "migrate"]
        gate_names = ["readiness", "smoke", "latency"]
        return [*names, "start", *gate_names, "switch", "drain", "verify", "prune", "record"]

    def plan(self) -> list[str]:
        """Human-readable plan lines."""
        environment = self.environment
        smoke = ", ".join(environment.gates.smoke)
        return [
            f"{self.request.action} {environment.name}: {self.record.previous or 'nothing'} -> "
            f"{self.request.version} on {self.platform.name} ({environment.public_url})",
            f"  steps: {' -> '.join(self.steps())}",
            f"  gates: ready within {environment.timeouts.readiness_seconds:g}s; smoke: {smoke}; "
            f"p95 <= {environment.gates.p95_budget_ms:g} ms over {environment.gates.probes} probes",
        ]

    # -- run -----------------------------------------------------------------------------

    def run(self) -> DeployRecord:
        """Plan, then (unless a dry run) apply every step; raise :class:`DeployFailed`."""
        self.record.previous = self.platform.serving_version()
        for line in self.plan():
            self.out(line)
        if self.request.dry_run:
            self.record.result = "dry-run"
            self.out("dry run: nothing changed")
            return self.record
        started = time.monotonic()
        try:
            self._step("lock", self._take_lock)
        except StepFailed as failure:
            self._finish("refused", str(failure), started)
            raise DeployFailed(str(failure), self.record) from None
        try:
            self._apply()
            self._finish("succeeded", "", started)
        except StepFailed as failure:
            result = "rolled_back" if "rolled back to" in str(failure) else "failed"
            self._finish(result, str(failure), started)
            raise DeployFailed(str(failure), self.record) from None
        finally:
            self.lock.release()
        return self.record

    def _apply(self) -> None:
        environment = self.environment
        if environment.approval_required:
            self._step("approval", self._approve)
        if environment.pre_deploy_backup and self.request.action == "deploy":
            self._step("backup", self._backup)
        if self.request.action == "deploy":
            self._step(
                "build", lambda: self.platform.build(self.request.version, self.request.source)
            )
            self._step("migrate", lambda: self.platform.migrate(self.request.version))
        self._release(self.request.version)
        try:
            self._step("verify", lambda: self._verify(self.request.version))
        except StepFailed as failure:
            self._roll_back(str(failure))
        keep = environment.releases_to_keep
        protect = {self.request.version, *(v for v in [self.record.previous] if v)}
        self._step("prune", lambda: _removed(self.platform.prune(keep, protect)))

    def _release(self, version: str) -> None:
        """start -> gates -> switch -> drain for ``version``."""
        candidate = self._start(version)
        try:
            self._step("readiness", lambda: self._ready(candidate))
            self._step("smoke", lambda: self._smoke(candidate))
            self._step("latency", lambda: self._latency(candidate))
        except StepFailed:
            self.out(f"  last log lines of {version}:")
            for line in self.platform.logs(candidate).splitlines():
                self.out(f"    {line}")
            serving = self.record.previous or "nothing"
            self.out(f"  {self.platform.discard(candidate)}; {serving} keeps serving")
            raise
        self._step("switch", lambda: self.platform.switch(candidate))
        self._step("drain", lambda: self.platform.drain(candidate))

    def _start(self, version: str) -> Candidate:
        holder: list[Candidate] = []

        def start() -> str:
            holder.append(self.platform.start(version))
            return f"{version} started ({holder[0].target.describe()})"

        self._step("start", start)
        return holder[0]

    def _roll_back(self, reason: str) -> None:
        previous = self.record.previous
        if previous is None or previous == self.request.version:
            raise StepFailed(reason)
        self.out(f"  verification failed; rolling back to {previous}")
        self._release(previous)
        self._step("verify", lambda: self._verify(previous))
        raise StepFailed(f"{reason}; rolled back to {previous}")

    # -- steps -----------------------------------------------------------------------------

    def _step(self, name: str, action: Callable[[], str]) -> None:
        started = time.monotonic()
        try:
            detail = action()
            ok = True
        except (PlatformError, StepFailed, LockHeld, OSError, httpx.HTTPError) as error:
            detail, ok = str(error) or type(error).__name__, False
        except Exception as error:  # any surprise still fails the step cleanly
            detail, ok = f"unexpected {type(error).__name__}: {error}", False
        seconds = time.monotonic() - started
        self.record.steps.append(StepRecord(name, ok, round(seconds, 3), detail))
        self.out(f"  {'ok  ' if ok else 'FAIL'} {name:<10} {seconds:6.1f}s  {detail}")
        if not ok:
            raise StepFailed(f"{name}: {detail}")

    def _take_lock(self) -> str:
        wait = self.environment.timeouts.lock_wait_seconds if self.request.wait else 0
        info = self.lock.acquire(
            self.request.version, self.request.message or self.request.action, wait
        )
        notes = "; ".join(self.lock.notes)
        return f"held by {info.holder}@{info.host}" + (f" ({notes})" if notes else "")

    def _confirm_by_name(self, question: str) -> bool:
        stderr(question)
        return input("> ").strip() == self.environment.name

    def _approve(self) -> str:
        if self.request.yes:
            return "approved with --yes"
        if not self.request.interactive:
            raise StepFailed(
                f"{self.environment.name} needs approval: run interactively, or pass --yes "
                "when the CI environment's protection rule is the approval"
            )
        question = (
            f"Deploy {self.request.version} to {self.environment.name}? "
            f"Type '{self.environment.name}' to confirm:"
        )
        if not self.confirm(question):
            raise StepFailed("not approved")
        return "approved interactively"

    def _backup(self) -> str:
        if self.backup is None:
            raise StepFailed("no backup function configured")
        return self.backup(self.environment, self.secrets)

    def _ready(self, candidate: Candidate) -> str:
        result = gates.wait_ready(
            candidate.target,
            self.environment.readiness_path,
            self.environment.timeouts.readiness_seconds,
            alive=lambda: self.platform.alive(candidate),
        )
        if not result.ok:
            raise StepFailed(result.detail)
        return result.detail

    def _smoke(self, candidate: Candidate) -> str:
        results = gates.smoke(
            candidate.target, self.environment.gates.smoke, candidate.version, self._credentials()
        )
        failed = [r for r in results if not r.ok]
        if failed:
            raise StepFailed(f"{failed[0].name}: {failed[0].detail}")
        return "; ".join(r.detail for r in results)

    def _latency(self, candidate: Candidate) -> str:
        budget = self.environment.gates
        result = gates.latency(
            candidate.target, "/v1/market/AAPL/book", budget.probes, budget.p95_budget_ms
        )
        if not result.ok:
            raise StepFailed(result.detail)
        return result.detail

    def _credentials(self) -> gates.SmokeCredentials:
        return smoke_credentials(self.environment, self.secrets)

    def _verify(self, version: str) -> str:
        url = self.environment.url(self.environment.version_path)
        deadline = time.monotonic() + self.environment.timeouts.verify_seconds
        seen = "no answer"
        while time.monotonic() < deadline:
            try:
                response = httpx.get(url, timeout=5)
                seen = f"{response.status_code}, {response.headers.get('X-App-Version')!r}"
                if response.status_code == 200 and response.headers.get("X-App-Version") == version:
                    return f"{url} serves {version}"
            except httpx.HTTPError as error:
                seen = type(error).__name__
            time.sleep(0.2)
        raise StepFailed(f"{url} does not serve {version} (last: {seen})")

    # -- record ------------------------------------------------------------------------------

    def _finish(self, result: str, reason: str, started: float) -> None:
        self.record.result = result
        self.record.reason = reason
        self.record.duration_seconds = round(time.monotonic() - started, 3)
        self.audit.append(self.record)
        self.reports.mkdir(parents=True, exist_ok=True)
        (self.reports / f"{self.record.id}.json").write_text(
            json.dumps(self.record.to_dict(), indent=2)
        )
        if result == "succeeded" and self.environment.is_production:
            self.out(f"  tag: {git_tag(self.record)}")
        delivery = send(
            self._message(), self.environment.notify.slack_webhook_env, environ.current()
        )
        self.out(
            f"{self.request.action} {result} in {self.record.duration_seconds:.1f}s"
            f"{(': ' + reason) if reason else ''} (notification: {delivery.detail})"
        )

    def _message(self) -> Message:
        record = self.record
        fields = {
            "environment": record.environment,
            "version": record.version,
            "previous": record.previous or "none",
            "result": record.result,
            "duration": f"{record.duration_seconds:.1f}s",
            "by": record.who,
        }
        if record.reason:
            fields["reason"] = record.reason
        ok = record.result == "succeeded"
        return Message(f"{record.action} {record.environment} {record.result}", ok, fields)


def smoke_credentials(
    environment: EnvironmentDefinition, secrets: dict[str, str]
) -> gates.SmokeCredentials:
    """The smoke user's credentials; raise :class:`PlatformError` when there is no password."""
    variable = environment.gates.smoke_password_env
    password = secrets.get(variable) or os.environ.get(variable)
    if not password and environment.seed_demo_data:
        password = DEMO_PASSWORD
    if not password:
        raise PlatformError(f"{variable}: the smoke user's password is required")
    return gates.SmokeCredentials(environment.gates.smoke_user, password)


def _removed(versions: list[str]) -> str:
    return f"removed {', '.join(versions)}" if versions else "nothing to remove"


def git_tag(record: DeployRecord) -> str:
    """Tag the deployed commit (``deploy/<env>/<id>``); returns the tag or why not."""
    tag = f"deploy/{record.environment}/{record.id}"
    message = f"{record.action} {record.version} to {record.environment} by {record.who}"
    result = subprocess.run(  # noqa: S603 - fixed git arguments
        ["git", "tag", "-a", tag, "-m", message],  # noqa: S607 - git from PATH
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        return f"not tagged: {result.stderr.strip() or 'git tag failed'}"
    return tag
