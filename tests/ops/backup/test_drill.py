"""The DR drill on SQLite: it restores, runs the app, measures RTO/RPO, reports, alerts."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import pytest

from ops.backup import create, drill, operations
from ops.backup.drill_report import history
from ops.backup.errors import BackupCheckFailed
from ops.backup.layout import drill_key, object_key
from ops.core.console import Console
from tests.ops.backup.helpers import add_sqlite_orders, flip_byte
from tests.support.webhook import Webhook
from tests.support.workspace import Workspace


def test_a_drill_restores_runs_the_app_and_reports(seeded: Workspace, tmp_path: Path) -> None:
    seeded.define("demo", storage="s3", backup={"encrypt_database": True})
    add_sqlite_orders(seeded.sqlite_path("demo"), 50)
    context = seeded.context("demo")
    manifest = create.run(context, "db")
    reports = tmp_path / "reports"
    lines: list[str] = []
    report = drill.run(context, lines.append, report_dir=reports)
    assert report.ok, report.failures
    assert report.backup_id == manifest.id
    assert report.rto_seconds is not None
    assert 0 < report.rto_seconds <= report.rto_target_seconds
    assert report.rpo_seconds is not None
    assert report.rpo_seconds >= 0
    names = [step.name for step in report.steps]
    assert names == [
        "select backup",
        "verify backup",
        "create scratch database",
        "restore",
        "compare row counts with the manifest",
        "migration revision",
        "probe restored data",
        "start app on restored data",
        "check the restored app (read orders, place one)",
    ]
    assert lines == [
        step.line(drill.STEP_NAME_WIDTH) for step in report.steps
    ]  # printed as each step ended
    checks = report.steps[-1].detail
    assert "newest restored order" in checks
    assert "new) and read it back" in checks
    saved = json.loads((reports / "demo" / f"{report.drill_id}.json").read_text())
    assert saved["rto_seconds"] == report.rto_seconds
    assert saved["rpo_seconds"] == report.rpo_seconds
    markdown = (reports / "demo" / f"{report.drill_id}.md").read_text()
    assert markdown.startswith(f"# DR drill {report.drill_id} (demo): PASSED")
    assert "| start app on restored data | ok |" in markdown
    assert context.storage.head(drill_key("demo", report.drill_id)) is not None
    second = drill.run(context, print, report_dir=reports)
    assert [r.drill_id for r in history(reports / "demo" / "history.jsonl")] == [
        report.drill_id,
        second.drill_id,
    ]


def test_rto_and_rpo_over_target_fail_and_alert(
    seeded: Workspace, tmp_path: Path, webhook: Webhook
) -> None:
    seeded.define("demo", drill={"rto_seconds": 0.001, "rpo_seconds": 60})
    context = seeded.context("demo", SLACK_WEBHOOK_URL=webhook.url)
    create.run(context, "db")
    later = context.clock() + timedelta(hours=2)
    context.clock = lambda: later
    with pytest.raises(
        BackupCheckFailed, match=r"DR drill \S+ failed: RTO [\d.]+s exceeds the target 0.001s"
    ):
        operations.dr_drill(
            context, "latest", server=None, report_dir=tmp_path / "r",
            console=Console(env={"GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md")}),
        )  # fmt: skip
    summary = (tmp_path / "summary.md").read_text()
    assert summary.startswith("# DR drill ")
    assert summary.splitlines()[0].endswith("(demo): FAILED")
    report = history(tmp_path / "r" / "demo" / "history.jsonl")[-1]
    assert not report.ok
    assert all(step.ok for step in report.steps)
    assert report.failures[1].startswith("RPO 72")
    assert report.failures[1].endswith("exceeds the target 60s")
    assert report.alert == "sent"
    text = webhook.received[0]["text"]
    assert "DR drill demo failed" in text
    assert "RTO" in text


def test_a_drill_without_backups_fails_at_selection(seeded: Workspace, tmp_path: Path) -> None:
    report = drill.run(seeded.context("demo"), print, report_dir=tmp_path)
    assert not report.ok
    assert report.failures == ["select backup: no complete db backup of environment 'demo'"]
    assert report.rto_seconds is None
    assert (tmp_path / "demo" / f"{report.drill_id}.md").read_text().count("FAILED") >= 2


def test_a_corrupt_backup_fails_the_drill_at_verification(
    seeded: Workspace, tmp_path: Path
) -> None:
    context = seeded.context("demo")
    manifest = create.run(context, "db")
    key = object_key("demo", "db", manifest.id, manifest.objects[0].name)
    context.storage.put_bytes(key, flip_byte(context.storage.get_bytes(key)))
    report = drill.run(context, print, report_dir=tmp_path)
    assert [s.name for s in report.steps] == ["select backup", "verify backup"]
    assert report.failures[0].startswith(f"verify backup: object {key}: sha256 mismatch")


def test_an_unknown_migration_revision_fails_the_drill(seeded: Workspace, tmp_path: Path) -> None:
    with closing(sqlite3.connect(seeded.sqlite_path("demo"))) as db:
        db.execute("UPDATE alembic_version SET version_num = 'ffff'")
        db.commit()
    context = seeded.context("demo")
    create.run(context, "db")
    report = drill.run(context, print, report_dir=tmp_path)
    assert report.steps[-1].name == "migration revision"
    assert report.failures[0].startswith("migration revision: revision ffff cannot be upgraded")


def test_an_app_that_never_gets_ready_fails_the_drill(seeded: Workspace, tmp_path: Path) -> None:
    context = seeded.context("demo")
    create.run(context, "db")
    context.environment = context.environment.model_copy(
        update={
            "timeouts": context.environment.timeouts.model_copy(update={"readiness_seconds": 0.01})
        }
    )
    report = drill.run(context, print, report_dir=tmp_path)
    assert report.steps[-1].name == "start app on restored data"
    assert not report.steps[-1].ok
    assert "not ready within" in report.failures[0]
    assert (tmp_path / "demo" / f"{report.drill_id}.server.log").exists()
