"""The disaster-recovery drill: latest backup -> verify -> restore into a scratch
database the drill creates (and always drops) -> row counts and migration revision
-> the app on the restored data -> smoke checks -> RTO and RPO against the
environment's targets -> JSON and Markdown report, history, alert on failure.

RTO is measured from the drill's start to the app answering ``/ready`` on the
restored data (selection, download, verification and restore included). RPO is
the drill's start minus the backup's consistency point (the instant of the
snapshot it contains): the data a disaster at drill time would lose.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any, TypeVar

import httpx

from app.db import migrate
from ops.backup import postgres, restore, smoke
from ops.backup.catalog import BackupEntry, resolve, scan
from ops.backup.context import BackupContext, host
from ops.backup.database import parse_url, safe_url
from ops.backup.errors import BackupError
from ops.backup.layout import drill_key, new_id
from ops.backup.report import DrillReport, StepOutcome
from ops.backup.verify import verify
from ops.core.notify import Message, send
from ops.live.server import AppServer, ServerFailed
from ops.project import REPORTS
from ops.storage import StorageError

DRILL_REPORTS = REPORTS / "drills"
T = TypeVar("T")
_EXPECTED = (BackupError, StorageError, ServerFailed, smoke.SmokeFailed, httpx.HTTPError, OSError)
PROBE_ADMIN = "SELECT id FROM users WHERE role = 'admin' AND is_active ORDER BY id LIMIT 1"
PROBE_ORDER = (
    "SELECT o.id, u.id FROM orders o JOIN accounts a ON a.id = o.account_id "
    "JOIN users u ON u.id = a.user_id WHERE u.is_active ORDER BY o.id DESC LIMIT 1"
)


class _Stop(Exception):
    """A step failed; the drill stops (cleanup still runs)."""


def _one_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def _describe(result: object) -> str:
    if isinstance(result, list):
        return "; ".join(str(item) for item in result)
    return result if isinstance(result, str) else ""


class Drill:
    """One drill run: its steps, its scratch resources, its report."""

    def __init__(self, context: BackupContext, report_dir: Path, server_url: str | None) -> None:
        self.context = context
        self.report_dir = report_dir / context.name
        self.server_url = server_url
        self.workdir = Path(tempfile.mkdtemp(prefix="drill-"))
        started = context.clock()
        self.began = time.monotonic()
        self.report = DrillReport(
            drill_id=new_id(started), environment=context.name, started_at=started,
            rto_target_seconds=context.environment.drill.rto_seconds,
            rpo_target_seconds=context.environment.drill.rpo_seconds, host=host(),
        )  # fmt: skip
        self.app: AppServer | None = None
        self.scratch: tuple[str, str] | None = None  # (server URL, database name)

    def step(
        self, name: str, action: Callable[[], T], describe: Callable[[T], str] = _describe
    ) -> T:
        """Run one step and record it; a failure is recorded and stops the drill."""
        began = time.monotonic()
        try:
            result = action()
        except _EXPECTED as error:
            self._record(name, False, began, _one_line(error))
            raise _Stop from None
        self._record(name, True, began, describe(result))
        return result

    def _record(self, name: str, ok: bool, began: float, detail: str) -> None:
        seconds = round(time.monotonic() - began, 3)
        self.report.steps.append(StepOutcome(name=name, ok=ok, seconds=seconds, detail=detail))
        if not ok:
            self.report.failures.append(f"{name}: {detail}")

    def run(self, reference: str) -> DrillReport:
        """Every step, then cleanup, targets, report and alert."""
        try:
            self._steps(reference)
        except _Stop:
            pass
        finally:
            self._cleanup()
        self._judge()
        self._publish()
        return self.report

    def _steps(self, reference: str) -> None:
        entry = self.step("select backup", lambda: self._select(reference), lambda e: e.id)
        self.step("verify backup", lambda: self._verify(entry))
        target = self.step(
            "create scratch database", lambda: self._create_scratch(entry), lambda t: t.display
        )
        plan = restore.Plan(entry, target, empty=True)
        self.step("restore", lambda: restore.load(self.context, plan))
        self.step("compare row counts with the manifest", lambda: restore.check(plan))
        self.step("migration revision", lambda: _bring_to_head(target.location))
        probe = self.step("probe restored data", lambda: _probe(target), _probe_text)
        secret = secrets.token_urlsafe(48)
        self.step(
            "start app on restored data", lambda: self._start_app(target, secret), lambda a: a.url
        )
        self.report.rto_seconds = round(time.monotonic() - self.began, 3)
        assert self.app is not None
        app_url = self.app.url
        self.step(
            "smoke checks (read orders, place one)", lambda: smoke.run(app_url, probe, secret)
        )

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
            raise BackupError(result.problem or "verification failed")
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
            if self.report.failures and self.app.log_path.exists():
                self.report_dir.mkdir(parents=True, exist_ok=True)
                shutil.copy(
                    self.app.log_path, self.report_dir / f"{self.report.drill_id}.server.log"
                )
        if self.scratch is not None:
            server, name = self.scratch
            with contextlib.suppress(_Stop):
                self.step(
                    "drop scratch database",
                    lambda: asyncio.run(postgres.drop_database(server, name)),
                )
        shutil.rmtree(self.workdir, ignore_errors=True)

    def _judge(self) -> None:
        report = self.report
        if report.rto_seconds is not None and report.rto_seconds > report.rto_target_seconds:
            report.failures.append(
                f"RTO {report.rto_seconds:.1f}s exceeds the target {report.rto_target_seconds:g}s"
            )
        if report.rpo_seconds is not None and report.rpo_seconds > report.rpo_target_seconds:
            report.failures.append(
                f"RPO {report.rpo_seconds:.1f}s exceeds the target {report.rpo_target_seconds:g}s"
            )
        completed = report.rto_seconds is not None and all(step.ok for step in report.steps)
        if not completed and not report.failures:
            report.failures.append("the drill did not complete")
        report.ok = completed and not report.failures
        report.finished_at = self.context.clock()

    def _publish(self) -> None:
        from ops.backup.report import write

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


def _probe_text(probe: smoke.Probe) -> str:
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
        raise BackupError(
            f"revision {current} cannot be upgraded to head {head}: {_one_line(error)}"
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


def _probe(target: restore.Target) -> smoke.Probe:
    if target.kind == "sqlite":
        path = parse_url(target.location).database or ""
        with closing(sqlite3.connect(path)) as db:
            admin = db.execute(PROBE_ADMIN).fetchone()
            order = db.execute(PROBE_ORDER).fetchone()
        return _as_probe(admin, order)
    return asyncio.run(_pg_probe(target.location))


async def _pg_probe(url: str) -> smoke.Probe:
    connection = await postgres.connect(url)
    try:
        return _as_probe(
            await connection.fetchrow(PROBE_ADMIN), await connection.fetchrow(PROBE_ORDER)
        )
    finally:
        await connection.close()


def _as_probe(admin: Any, order: Any) -> smoke.Probe:
    return smoke.Probe(
        admin_id=int(admin[0]) if admin else None,
        order_owner_id=int(order[1]) if order else None,
        newest_order_id=int(order[0]) if order else None,
    )


def run(
    context: BackupContext,
    reference: str = "latest",
    server_url: str | None = None,
    report_dir: Path = DRILL_REPORTS,
) -> DrillReport:
    """Run a drill of ``context``'s environment and return its (already written) report."""
    return Drill(context, report_dir, server_url).run(reference)
