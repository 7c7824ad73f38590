"""The disaster-recovery drill: latest backup -> verify -> restore into a scratch
database the drill creates (and always drops) -> row counts and migration revision
-> the app on the restored data -> checks through its API -> RTO and RPO against
the environment's targets -> JSON and Markdown report, history, alert on failure.
Every step is recorded and printed by one :class:`~ops.core.steps.StepLog`.

RTO is measured from the drill's start to the app answering ``/ready`` on the
restored data (selection, download, verification and restore included). RPO is
the drill's start minus the backup's consistency point (the instant of the
snapshot it contains): the data a disaster at drill time would lose.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable
from contextlib import closing, suppress
from pathlib import Path
from typing import Any

from app.db import migrate
from ops.backup import drill_checks, postgres, restore
from ops.backup.catalog import BackupEntry, resolve, scan
from ops.backup.context import BackupContext, host
from ops.backup.database import parse_url, safe_url
from ops.backup.drill_report import DrillReport, write
from ops.backup.errors import BackupCheckFailed
from ops.backup.layout import drill_key, new_id
from ops.backup.verify import verify
from ops.core.exits import one_line
from ops.core.notify import Message, send
from ops.core.steps import StepFailed, StepLog
from ops.live.server import AppServer
from ops.project import REPORTS
from ops.storage import StorageError

DRILL_REPORTS = REPORTS / "drills"
PROBE_ADMIN = "SELECT id FROM users WHERE role = 'admin' AND is_active ORDER BY id LIMIT 1"
PROBE_ORDER = (
    "SELECT o.id, u.id FROM orders o JOIN accounts a ON a.id = o.account_id "
    "JOIN users u ON u.id = a.user_id WHERE u.is_active ORDER BY o.id DESC LIMIT 1"
)
APP_CHECKS = "check the restored app (read orders, place one)"
STEP_NAME_WIDTH = len("compare row counts with the manifest")  # aligns the step lines


class Drill:
    """One drill run: its steps, its scratch resources, its report."""

    def __init__(
        self,
        context: BackupContext,
        report_dir: Path,
        server_url: str | None,
        say: Callable[[str], None],
    ) -> None:
        self.context = context
        self.report_dir = report_dir / context.name
        self.server_url = server_url
        self.workdir = Path(tempfile.mkdtemp(prefix="drill-"))
        self.log = StepLog(say, width=STEP_NAME_WIDTH)
        started = context.clock()
        self.began = time.monotonic()
        self.report = DrillReport(
            drill_id=new_id(started), environment=context.name, started_at=started,
            rto_target_seconds=context.environment.drill.rto_seconds,
            rpo_target_seconds=context.environment.drill.rpo_seconds, host=host(),
        )  # fmt: skip
        self.app: AppServer | None = None
        self.scratch: tuple[str, str] | None = None  # (server URL, database name)

    def run(self, reference: str) -> DrillReport:
        """Every step, then cleanup, targets, report and alert."""
        try:
            self._steps(reference)
        except StepFailed:
            pass  # recorded in the step log; cleanup, verdict and report still follow
        finally:
            self._cleanup()
        self._judge()
        self._publish()
        return self.report

    def _steps(self, reference: str) -> None:
        step = self.log.run
        entry = step("select backup", lambda: self._select(reference), lambda e: e.id)
        step("verify backup", lambda: self._verify(entry))
        target = step(
            "create scratch database", lambda: self._create_scratch(entry), lambda t: t.display
        )
        plan = restore.RestorePlan(entry, target, empty=True)
        step("restore", lambda: restore.load(self.context, plan))
        step("compare row counts with the manifest", lambda: restore.check(plan))
        step("migration revision", lambda: _bring_to_head(target.location))
        probe = step("probe restored data", lambda: _probe(target), _probe_text)
        secret = secrets.token_urlsafe(48)
        app = step(
            "start app on restored data", lambda: self._start_app(target, secret), lambda a: a.url
        )
        self.report.rto_seconds = round(time.monotonic() - self.began, 3)
        step(APP_CHECKS, lambda: drill_checks.run(app.url, probe, secret))

    def _select(self, reference: str) -> BackupEntry:
        entries = scan(self.context.storage, self.context.name, "db")
        entry = resolve(entries, reference, self.context.name, "db")
        manifest = entry.manifest
        assert manifest is not None
        assert manifest.database is not None
        self.report.backup_id = entry.id
        self.report.backend = manifest.database.backend
        self.report.backup_finished_at = manifest.finished_at
        self.report.consistent_at = manifest.consistent_at
        self.report.newest_data_at = manifest.database.newest_data_at
        started = self.report.started_at
        self.report.rpo_seconds = round((started - manifest.consistent_at).total_seconds(), 3)
        if manifest.database.newest_data_at is not None:
            age = started - manifest.database.newest_data_at
            self.report.data_age_seconds = round(age.total_seconds(), 3)
        return entry

    def _verify(self, entry: BackupEntry) -> list[str]:
        result = verify(self.context, entry)
        if not result.ok:
            raise BackupCheckFailed(result.problem or "verification failed")
        return result.checks

    def _create_scratch(self, entry: BackupEntry) -> restore.Target:
        assert entry.manifest is not None
        assert entry.manifest.database is not None
        if entry.manifest.database.backend == "sqlite":
            path = self.workdir / "restored.sqlite3"
            url = f"sqlite+aiosqlite:///{path}"
            self.report.scratch_database = str(path)
            return restore.Target("sqlite", url, str(path))
        server = self._server_url()
        name = re.sub(
            r"[^a-z0-9_]", "_", f"drill_{self.context.name}_{self.report.drill_id}".lower()
        )[:63]
        url = asyncio.run(postgres.create_database(server, name))
        self.scratch = (server, name)
        self.report.scratch_database = safe_url(url)
        return restore.Target("postgresql", url, safe_url(url))

    def _server_url(self) -> str:
        variable = self.context.environment.drill.server_url_env
        return self.server_url or self.context.env.get(variable) or self.context.database_url()

    def _start_app(self, target: restore.Target, secret: str) -> AppServer:
        settings = {
            "DATABASE_URL": target.location,
            "ENVIRONMENT": "testing",
            "JWT_SECRET_KEY": secret,
            "DATA_DIR": str(self.workdir / "var"),
            "LOG_LEVEL": "WARNING",
            "RATE_LIMIT_ENABLED": "false",
        }
        self.app = AppServer(
            settings, self.workdir, env=self.context.env, log_path=self.workdir / "server.log"
        )
        self.app.start(timeout=self.context.environment.timeouts.readiness_seconds)
        return self.app

    def _cleanup(self) -> None:
        if self.app is not None:
            self.app.stop(grace=10)
            if self.log.failed and self.app.log_path.exists():
                self.report_dir.mkdir(parents=True, exist_ok=True)
                shutil.copy(
                    self.app.log_path, self.report_dir / f"{self.report.drill_id}.server.log"
                )
        if self.scratch is not None:
            server, name = self.scratch
            with suppress(StepFailed):
                self.log.run(
                    "drop scratch database",
                    lambda: asyncio.run(postgres.drop_database(server, name)),
                )
        shutil.rmtree(self.workdir, ignore_errors=True)

    def _judge(self) -> None:
        report = self.report
        report.steps = self.log.steps
        report.failures = [f"{step.name}: {step.detail}" for step in self.log.failed]
        if report.rto_seconds is not None and report.rto_seconds > report.rto_target_seconds:
            report.failures.append(
                f"RTO {report.rto_seconds:.1f}s exceeds the target {report.rto_target_seconds:g}s"
            )
        if report.rpo_seconds is not None and report.rpo_seconds > report.rpo_target_seconds:
            report.failures.append(
                f"RPO {report.rpo_seconds:.1f}s exceeds the target {report.rpo_target_seconds:g}s"
            )
        completed = report.rto_seconds is not None and not self.log.failed
        if not completed and not report.failures:
            report.failures.append("the drill did not complete")
        report.ok = completed and not report.failures
        report.finished_at = self.context.clock()

    def _publish(self) -> None:
        if not self.report.ok:
            fields = {"failure": self.report.failures[0], "backup": self.report.backup_id or "—"}
            message = Message(f"DR drill {self.context.name} failed", False, fields)
            webhook = self.context.environment.notify.slack_webhook_env
            self.report.alert = send(message, webhook, self.context.env).detail
        write(self.report, self.report_dir)
        try:
            data = self.report.model_dump_json(indent=2).encode()
            self.context.storage.put_bytes(drill_key(self.context.name, self.report.drill_id), data)
        except StorageError as error:
            self.report.failures.append(f"report not stored in backup storage: {error}")


def _probe_text(probe: drill_checks.Probe) -> str:
    return f"admin {probe.admin_id}, newest order {probe.newest_order_id}"


def _bring_to_head(url: str) -> str:
    """The restored revision must be one this code knows; upgrade it when behind."""
    head = migrate.head_revision()
    app_url = _app_url(url)
    current = asyncio.run(_current_revision(app_url))
    if current == head:
        return f"at head {head}"
    try:
        migrate.upgrade(app_url)
    except Exception as error:  # alembic raises plain errors for unknown revisions
        raise BackupCheckFailed(
            f"revision {current} cannot be upgraded to head {head}: {one_line(error)}"
        ) from None
    return f"upgraded from {current} to head {head}"


async def _current_revision(url: str) -> str | None:
    from app.db.engine import create_engine

    engine = create_engine(url)
    try:
        return await migrate.current_revision(engine)
    finally:
        await engine.dispose()


def _app_url(url: str) -> str:
    parsed = parse_url(url)
    driver = "sqlite+aiosqlite" if parsed.get_backend_name() == "sqlite" else "postgresql+asyncpg"
    return parsed.set(drivername=driver).render_as_string(hide_password=False)


def _probe(target: restore.Target) -> drill_checks.Probe:
    if target.kind == "sqlite":
        path = parse_url(target.location).database or ""
        with closing(sqlite3.connect(path)) as db:
            admin = db.execute(PROBE_ADMIN).fetchone()
            order = db.execute(PROBE_ORDER).fetchone()
        return _as_probe(admin, order)
    return postgres.on_database(target.location, _pg_probe)


async def _pg_probe(connection: Any) -> drill_checks.Probe:
    return _as_probe(await connection.fetchrow(PROBE_ADMIN), await connection.fetchrow(PROBE_ORDER))


def _as_probe(admin: Any, order: Any) -> drill_checks.Probe:
    return drill_checks.Probe(
        admin_id=int(admin[0]) if admin else None,
        order_owner_id=int(order[1]) if order else None,
        newest_order_id=int(order[0]) if order else None,
    )


def run(
    context: BackupContext,
    say: Callable[[str], None],
    *,
    reference: str = "latest",
    server_url: str | None = None,
    report_dir: Path = DRILL_REPORTS,
) -> DrillReport:
    """Run a drill of ``context``'s environment, printing each step with ``say`` as it
    ends; returns the report (already written, stored and alerted on)."""
    return Drill(context, report_dir, server_url, say).run(reference)
