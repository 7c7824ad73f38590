"""Backups of the embedded SQLite database, config and state: round trips against local
storage and the real S3 server, corruption, kills, guards, retention applied."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from ops.backup import commands, create, prune, restore, sqlite
from ops.backup.catalog import resolve, scan
from ops.backup.errors import BackupError
from ops.backup.layout import object_key
from ops.backup.output import Output
from ops.backup.retention import Decision
from ops.backup.verify import verify
from tests.ops.backup.helpers import add_sqlite_orders, flip_byte
from tests.support.invoke import subprocess_env
from tests.support.s3 import BUCKET
from tests.support.workspace import OTHER_KEY, FakeClock, Workspace


def rows(path: Path, table: str) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(path)) as db:
        return db.execute(f"SELECT * FROM {table} ORDER BY id").fetchall()  # noqa: S608


@pytest.fixture(params=["local", "s3"])
def storage_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_round_trip(seeded: Workspace, storage_kind: str, tmp_path: Path) -> None:
    seeded.define("demo", storage=storage_kind, backup={"encrypt_database": storage_kind == "s3"})
    add_sqlite_orders(seeded.sqlite_path("demo"), 300)
    context = seeded.context("demo")
    manifest = create.run(context, "db")
    assert manifest.database is not None
    assert manifest.database.row_counts["orders"] == 300
    assert manifest.database.migration_revision == "0002"
    assert manifest.database.newest_data_at is not None
    assert manifest.objects[0].encrypted is (storage_kind == "s3")
    entry = resolve(scan(context.storage, "demo", "db"), "latest", "demo", "db")
    assert entry.id == manifest.id
    assert verify(context, entry).ok
    target = tmp_path / "restored" / "trading.db"
    plan = restore.plan(context, "latest", f"sqlite:///{target}", "db")
    result = restore.apply(context, plan)
    assert "row counts of 8 tables match the manifest" in result.checks
    for table in ("orders", "users", "ledger_entries", "positions"):
        assert rows(target, table) == rows(seeded.sqlite_path("demo"), table)


def test_a_flipped_byte_fails_verify_and_names_the_object(
    seeded: Workspace, storage_kind: str
) -> None:
    seeded.define("demo", storage=storage_kind)
    context = seeded.context("demo")
    manifest = create.run(context, "db")
    key = object_key("demo", "db", manifest.id, manifest.objects[0].name)
    context.storage.put_bytes(key, flip_byte(context.storage.get_bytes(key)))
    entry = scan(context.storage, "demo", "db")[-1]
    result = verify(context, entry)
    assert not result.ok
    assert result.problem is not None
    assert result.problem.startswith(f"object {key}: sha256 mismatch")
    # The result is recorded beside the backup, and restore refuses the object too.
    assert not scan(context.storage, "demo", "db")[-1].verified_ok
    plan = restore.plan(context, manifest.id, f"sqlite:///{seeded.root / 'r.db'}", "db")
    with pytest.raises(BackupError, match=f"object {key}: sha256 mismatch"):
        restore.apply(context, plan)
    assert not (seeded.root / "r.db").exists()


def test_verify_task_fails_with_one_line(
    seeded: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    context = seeded.context("demo")
    manifest = create.run(context, "db")
    key = object_key("demo", "db", manifest.id, manifest.objects[0].name)
    path = seeded.root / "store" / key
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(BackupError, match=r"1 of 1 backups failed verification: object .* size"):
        commands.verify(context, "db", None, latest=True, every=False, out=Output())
    assert "FAILED" in capsys.readouterr().out


KILLER = """
import os, sys
from ops.backup import create
from ops.backup.context import open_context
context = open_context(sys.argv[1])
real = context.storage.put_bytes
def put_bytes(key, data):
    if key.endswith("/manifest.json"):
        os._exit(137)  # the process dies between the payload and the manifest
    real(key, data)
context.storage.put_bytes = put_bytes
create.run(context, "db")
"""


def test_a_backup_killed_before_its_manifest_is_not_complete(
    seeded: Workspace, storage_kind: str
) -> None:
    seeded.define("demo", storage=storage_kind)
    done = subprocess.run(
        [sys.executable, "-c", KILLER, "demo"],
        env=subprocess_env(seeded.env()),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 137, done.stderr
    context = seeded.context("demo")
    entries = scan(context.storage, "demo", "db")
    assert len(entries) == 1
    assert not entries[0].complete
    assert [o.key.rsplit("/", 1)[-1] for o in entries[0].objects] == ["database.sqlite3.gz"]
    with pytest.raises(BackupError, match="no complete db backup of environment 'demo'"):
        resolve(entries, "latest", "demo", "db")
    with pytest.raises(BackupError, match=f"backup {entries[0].id} is incomplete"):
        resolve(entries, entries[0].id, "demo", "db")


def test_a_failed_backup_removes_what_it_uploaded(
    seeded: Workspace, storage_kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeded.define("demo", storage=storage_kind)
    context = seeded.context("demo")

    def broken(*_args: object) -> None:
        raise BackupError("manifest write failed")

    monkeypatch.setattr(context.storage, "put_bytes", broken)
    with pytest.raises(BackupError, match="manifest write failed"):
        create.run(context, "db")
    assert context.storage.list("demo/") == []


def test_restore_refuses_a_non_empty_target(seeded: Workspace) -> None:
    context = seeded.context("demo")
    create.run(context, "db")
    target = f"sqlite:///{seeded.sqlite_path('demo')}"  # the live database itself
    plan = restore.plan(context, "latest", target, "db")
    assert not plan.empty
    with pytest.raises(BackupError, match=r"target .*trading.db is not empty: pass --force"):
        restore.guard(plan, force=False, yes=False, confirm=None)
    restore.guard(plan, force=True, yes=False, confirm=None)
    assert "row counts of 8 tables match the manifest" in restore.apply(context, plan).checks


def test_restore_refuses_production_without_confirmation(seeded: Workspace, tmp_path: Path) -> None:
    target = tmp_path / "prod.db"
    seeded.define("production", top={"required_secrets": ["DATABASE_URL"]})
    context = seeded.context("demo", DATABASE_URL=f"sqlite:///{target}")
    create.run(context, "db")
    for spec in ("env:production", f"sqlite:///{target}"):
        plan = restore.plan(context, "latest", spec, "db")
        assert plan.target.production
        with pytest.raises(BackupError, match="refusing to restore into a production database"):
            restore.guard(plan, force=False, yes=False, confirm=None)
        with pytest.raises(BackupError, match="restore into production not confirmed"):
            restore.guard(plan, force=False, yes=False, confirm=lambda _q: False)
        restore.guard(
            plan, force=False, yes=False, confirm=lambda question: "PRODUCTION" in question
        )
        restore.guard(plan, force=False, yes=True, confirm=None)
    assert not restore.plan(
        context, "latest", f"sqlite:///{tmp_path / 'x.db'}", "db"
    ).target.production


def test_restore_refuses_a_backend_mismatch(seeded: Workspace) -> None:
    context = seeded.context("demo")
    create.run(context, "db")
    with pytest.raises(BackupError, match="is a sqlite backup; the target is postgresql"):
        restore.plan(context, "latest", "postgresql://u@127.0.0.1:9/x", "db")


def test_row_count_differences_are_named(seeded: Workspace) -> None:
    context = seeded.context("demo")
    manifest = create.run(context, "db")
    assert manifest.database is not None
    facts = sqlite.check_database(seeded.sqlite_path("demo"))
    counts = {**manifest.database.row_counts, "orders": 99}
    changed = manifest.model_copy(
        update={"database": manifest.database.model_copy(update={"row_counts": counts})}
    )
    with pytest.raises(
        BackupError, match=r"row counts differ from the manifest: orders: 0 rows, manifest has 99"
    ):
        restore.check_against_manifest(changed, facts)
    other = manifest.database.model_copy(update={"migration_revision": "0001"})
    with pytest.raises(BackupError, match="revision 0002 differs from the manifest's 0001"):
        restore.check_against_manifest(manifest.model_copy(update={"database": other}), facts)


def test_config_backups_are_always_encrypted(
    workspace: Workspace, storage_kind: str, tmp_path: Path
) -> None:
    workspace.define("demo", storage=storage_kind)
    secret = "S3cr3t-value-that-must-not-leak"  # pragma: allowlist secret
    (workspace.root / "config").mkdir()
    (workspace.root / "config" / ".env.demo.local").write_text(f"DATABASE_PASSWORD={secret}\n")
    (workspace.root / "config" / "app.toml").write_text("[app]\n")
    without_key = workspace.context("demo", BACKUP_ENCRYPTION_KEY="")
    with pytest.raises(BackupError, match="BACKUP_ENCRYPTION_KEY: not set"):
        create.plan(without_key, "config")
    with pytest.raises(BackupError, match="BACKUP_ENCRYPTION_KEY: not set"):
        create.run(without_key, "config")
    assert without_key.storage.list("demo/") == []
    context = workspace.context("demo")
    manifest = create.run(context, "config")
    assert manifest.encryption is not None
    names = sorted(f.path for f in manifest.files)
    assert [Path(name).name for name in names] == [".env.demo.local", "app.toml"]
    assert all(name.endswith(("ws/config/.env.demo.local", "ws/config/app.toml")) for name in names)
    stored = context.storage.get_bytes(
        object_key("demo", "config", manifest.id, manifest.objects[0].name)
    )
    assert secret.encode() not in stored
    assert verify(context, scan(context.storage, "demo", "config")[-1]).ok
    with pytest.raises(BackupError, match="was encrypted with key id"):
        verify(
            workspace.context("demo", BACKUP_ENCRYPTION_KEY=OTHER_KEY),
            scan(context.storage, "demo", "config")[-1],
        )
    out = tmp_path / "restored-config"
    plan = restore.plan(context, "latest", str(out), "config")
    restore.apply(context, plan)
    restored = list(out.rglob(".env.demo.local"))
    assert restored[0].read_text() == f"DATABASE_PASSWORD={secret}\n"


def test_state_backup_and_archive_check(workspace: Workspace, tmp_path: Path) -> None:
    workspace.define("demo")
    (workspace.root / "state" / "logs").mkdir(parents=True)
    (workspace.root / "state" / "logs" / "app.log").write_text("line\n" * 1000)
    context = workspace.context("demo")
    manifest = create.run(context, "state")
    assert manifest.encryption is None
    assert [Path(f.path).name for f in manifest.files] == ["app.log"]
    plan = create.plan(context, "state")
    assert plan.source == "1 files"
    key = object_key("demo", "state", manifest.id, manifest.objects[0].name)
    entry = scan(context.storage, "demo", "state")[-1]
    # An archive that is intact as bytes but does not match the manifest's files:
    changed = manifest.files[0].model_copy(update={"sha256": "0" * 64})
    entry.manifest = manifest.model_copy(update={"files": [changed]})
    result = verify(context, entry)
    assert (
        result.problem == "archive member " + manifest.files[0].path + " differs from the manifest"
    )
    assert context.storage.head(key) is not None


def test_prune_applies_retention_with_a_fake_clock(seeded: Workspace, storage_kind: str) -> None:
    seeded.define(
        "demo",
        storage=storage_kind,
        retention={"keep_last": 2, "daily": 0, "weekly": 0, "monthly": 0},
    )
    context = seeded.context("demo")
    clock = FakeClock()
    context.clock = clock
    ids = []
    for _ in range(4):
        ids.append(create.run(context, "db").id)
        clock.advance(hours=1)
    verify(context, scan(context.storage, "demo", "db")[0])  # the oldest is the only verified one
    context.storage.put_bytes(f"demo/db/{ids[0][:-6]}ffffff/database.sqlite3.gz", b"debris")
    clock.advance(days=2)
    steps = prune.plan(context, "db")
    decisions = {s.entry.id: s.decision for s in steps}
    assert [i for i in ids if decisions[i].keep] == [ids[0], ids[2], ids[3]]
    assert decisions[ids[0]].reasons == ("newest verified backup",)
    assert not decisions[f"{ids[0][:-6]}ffffff"].keep
    out = Output()
    commands.prune_backups(context, "db", apply=False, yes=False, out=out)
    assert len(scan(context.storage, "demo", "db")) == 5  # a dry run deletes nothing
    commands.prune_backups(context, "db", apply=True, yes=False, out=out)
    assert [e.id for e in scan(context.storage, "demo", "db")] == [ids[0], ids[2], ids[3]]


def test_prune_never_deletes_the_newest_verified_or_complete(seeded: Workspace) -> None:
    context = seeded.context("demo")
    create.run(context, "db")
    steps = prune.plan(context, "db")
    bad = [prune.Step(s.entry, Decision(s.entry.id, False, ("x",))) for s in steps]
    with pytest.raises(BackupError, match="would delete the newest complete backup"):
        prune.apply(context, bad)


def test_production_prune_needs_yes(workspace: Workspace, database_url: str) -> None:
    workspace.define(
        "production",
        top={"required_secrets": ["DATABASE_URL"]},
        retention={"keep_last": 1, "daily": 0, "weekly": 0, "monthly": 0},
    )
    context = workspace.context("production", DATABASE_URL=database_url)
    clock = FakeClock()
    context.clock = clock
    create.run(context, "db")
    clock.advance(hours=1)
    create.run(context, "db")
    with pytest.raises(
        BackupError, match="refusing to change production backups without confirmation"
    ):
        commands.prune_backups(context, "db", apply=True, yes=False, out=Output())
    commands.prune_backups(context, "db", apply=True, yes=True, out=Output())
    assert len(scan(context.storage, "production", "db")) == 1


def test_list_and_json(seeded: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    context = seeded.context("demo")
    commands.list_backups(context, "all", Output())
    assert "no backups of environment 'demo'" in capsys.readouterr().out
    commands.backup(context, ("db", "state"), dry_run=False, check=True, out=Output())
    capsys.readouterr()
    commands.list_backups(context, "all", Output())
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == [
        "kind",
        "id",
        "status",
        "time",
        "(UTC)",
        "size",
        "encrypted",
        "verified",
        "revision",
    ]
    assert len(table) == 4
    assert all("complete" in line and " ok " in line for line in table[2:])
    commands.list_backups(context, "db", Output(as_json=True))
    listed = json.loads(capsys.readouterr().out)["backups"]
    assert [b["kind"] for b in listed] == ["db"]
    assert listed[0]["manifest"]["database"]["row_counts"]["users"] == 4


def test_dry_run_writes_nothing(
    seeded: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    context = seeded.context("demo")
    report = tmp_path / "plan.json"
    commands.backup(
        context,
        ("db", "config", "state"),
        dry_run=True,
        check=False,
        out=Output(report=str(report)),
    )
    assert context.storage.list("demo/") == []
    plans = json.loads(report.read_text())["plans"]
    assert [p["kind"] for p in plans] == ["db", "config", "state"]
    assert all(p["encrypted"] for p in plans if p["kind"] == "config")
    assert "dry run: nothing written" in capsys.readouterr().out


def test_a_missing_sqlite_database_is_one_line(
    seeded: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    seeded.sqlite_path("demo").unlink()
    context = seeded.context("demo")
    with pytest.raises(BackupError, match=r"SQLite database .* does not exist"):
        commands.backup(context, ("db",), dry_run=False, check=False, out=Output())
    assert context.storage.list("demo/") == []


def test_missing_bucket_is_one_line_before_anything(seeded: Workspace) -> None:
    seeded.define("demo", storage="s3", backup={"s3_bucket": "missing-bucket"})
    with pytest.raises(
        BackupError, match=r"bucket missing-bucket .*: check: bucket does not exist"
    ):
        create.plan(seeded.context("demo"), "db")


def test_s3_without_a_bucket_is_refused(workspace: Workspace) -> None:
    workspace.define("demo", storage="s3", backup={"s3_bucket": ""})
    with pytest.raises(BackupError, match=r"backup\.s3_bucket is not set"):
        workspace.context("demo")


def test_stored_under_the_documented_layout(seeded: Workspace) -> None:
    seeded.define("demo", storage="s3")
    context = seeded.context("demo")
    manifest = create.run(context, "db")
    assert seeded.s3 is not None
    listed = seeded.s3.client().list_objects_v2(
        Bucket=BUCKET, Prefix=f"t-{seeded.root.parent.name}/"
    )
    keys = sorted(o["Key"] for o in listed["Contents"])
    prefix = f"t-{seeded.root.parent.name}/demo/db/{manifest.id}"
    assert keys == [f"{prefix}/database.sqlite3.gz", f"{prefix}/manifest.json"]
