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

from app.db.migrate import head_revision
from ops.backup import create, operations, prune, restore, sqlite
from ops.backup.catalog import complete, resolve, scan
from ops.backup.crypto import KeyProblem
from ops.backup.database import check_against_manifest
from ops.backup.errors import BackupCannotRun, BackupCheckFailed
from ops.backup.layout import KINDS, object_key
from ops.backup.retention import Decision
from ops.backup.verify import verify
from ops.core.console import Console
from ops.core.exits import CannotRun
from ops.storage import StorageError
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
    assert manifest.database.migration_revision == head_revision()
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
    with pytest.raises(BackupCheckFailed, match=f"object {key}: sha256 mismatch"):
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
    with pytest.raises(
        BackupCheckFailed, match=r"1 of 1 backups failed verification: object .* size"
    ):
        operations.verify_backups(context, "db", None, latest=True, every=False, console=Console())
    assert "FAILED" in capsys.readouterr().out


KILLER = """
import os, sys
from ops.backup import create
from ops.backup.context import open_context
context = open_context(sys.argv[1], dict(os.environ))
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
    with pytest.raises(BackupCannotRun, match="no complete db backup of environment 'demo'"):
        resolve(entries, "latest", "demo", "db")
    with pytest.raises(BackupCannotRun, match=f"backup {entries[0].id} is incomplete"):
        resolve(entries, entries[0].id, "demo", "db")


def test_a_failed_backup_removes_what_it_uploaded(
    seeded: Workspace, storage_kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeded.define("demo", storage=storage_kind)
    context = seeded.context("demo")

    def broken(*_args: object) -> None:
        raise StorageError("manifest write failed")

    monkeypatch.setattr(context.storage, "put_bytes", broken)
    with pytest.raises(StorageError, match="manifest write failed"):
        create.run(context, "db")
    assert context.storage.list("demo/") == []


def test_restore_refuses_a_non_empty_target(seeded: Workspace) -> None:
    context = seeded.context("demo")
    create.run(context, "db")
    target = f"sqlite:///{seeded.sqlite_path('demo')}"  # the live database itself
    plan = restore.plan(context, "latest", target, "db")
    assert not plan.empty
    console = Console(interactive=False)
    with pytest.raises(BackupCannotRun, match=r"target .*trading.db is not empty: pass --force"):
        restore.guard(plan, force=False, yes=True, console=console)
    assert restore.guard(plan, force=True, yes=False, console=console) is None
    assert "row counts of 8 tables match the manifest" in restore.apply(context, plan).checks


def test_restore_into_production_needs_approval(
    seeded: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "prod.db"
    seeded.define("production", top={"required_secrets": ["DATABASE_URL"]})
    context = seeded.context("demo", DATABASE_URL=f"sqlite:///{target}")
    create.run(context, "db")
    for spec in ("env:production", f"sqlite:///{target}"):
        plan = restore.plan(context, "latest", spec, "db")
        assert plan.target.production_environment == "production"
        with pytest.raises(
            CannotRun, match=r"a restore into production's database needs approval: .* --yes"
        ):
            restore.guard(plan, force=False, yes=False, console=Console(interactive=False))
        typed_yes = Console(interactive=True, ask=lambda _prompt: "yes")
        with pytest.raises(CannotRun, match="not approved"):  # the environment's name, not yes
            restore.guard(plan, force=False, yes=False, console=typed_yes)
        assert "PRODUCTION" in capsys.readouterr().err
        typed_name = Console(interactive=True, ask=lambda _prompt: "production")
        approved = restore.guard(plan, force=False, yes=False, console=typed_name)
        assert approved == "approved interactively"
        assert "Type 'production' to confirm" in capsys.readouterr().err
        approved = restore.guard(plan, force=False, yes=True, console=Console(interactive=False))
        assert approved == "approved with --yes"
    assert not restore.plan(
        context, "latest", f"sqlite:///{tmp_path / 'x.db'}", "db"
    ).target.production


def test_restore_refuses_a_backend_mismatch(seeded: Workspace) -> None:
    context = seeded.context("demo")
    create.run(context, "db")
    with pytest.raises(BackupCannotRun, match="is a sqlite backup; the target is postgresql"):
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
    assert changed.database is not None
    with pytest.raises(
        BackupCheckFailed,
        match=r"^restored row counts differ from the manifest: orders: 0 rows, manifest has 99$",
    ):
        check_against_manifest(changed.database, facts, "restored")
    other = manifest.database.model_copy(update={"migration_revision": "0001"})
    with pytest.raises(
        BackupCheckFailed,
        match=f"restored migration revision {head_revision()} differs from the manifest's 0001",
    ):
        check_against_manifest(other, facts, "restored")


def test_config_backups_are_always_encrypted(
    workspace: Workspace, storage_kind: str, tmp_path: Path
) -> None:
    workspace.define("demo", storage=storage_kind)
    secret = "S3cr3t-value-that-must-not-leak"  # pragma: allowlist secret
    (workspace.root / "config").mkdir()
    (workspace.root / "config" / ".env.demo.local").write_text(f"DATABASE_PASSWORD={secret}\n")
    (workspace.root / "config" / "app.toml").write_text("[app]\n")
    without_key = workspace.context("demo", BACKUP_ENCRYPTION_KEY="")
    with pytest.raises(KeyProblem, match="BACKUP_ENCRYPTION_KEY: not set"):
        create.plan(without_key, "config")
    with pytest.raises(KeyProblem, match="BACKUP_ENCRYPTION_KEY: not set"):
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
    with pytest.raises(BackupCannotRun, match="was encrypted with key id"):
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
    console = Console(interactive=False)
    operations.prune_backups(context, "db", apply=False, yes=False, console=console)
    assert len(scan(context.storage, "demo", "db")) == 5  # a dry run deletes nothing
    operations.prune_backups(context, "db", apply=True, yes=False, console=console)
    assert [e.id for e in scan(context.storage, "demo", "db")] == [ids[0], ids[2], ids[3]]


def test_prune_never_deletes_the_newest_verified_or_complete(seeded: Workspace) -> None:
    context = seeded.context("demo")
    create.run(context, "db")
    steps = prune.plan(context, "db")
    bad = [prune.PruneDecision(s.entry, Decision(s.entry.id, False, ("x",))) for s in steps]
    with pytest.raises(BackupCannotRun, match="would delete the newest complete backup"):
        prune.apply(context, bad)


def test_production_prune_needs_approval(workspace: Workspace, database_url: str) -> None:
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
        CannotRun, match=r"pruning the backups of production needs approval: .* pass --yes"
    ):
        operations.prune_backups(
            context, "db", apply=True, yes=False, console=Console(interactive=False)
        )
    with pytest.raises(CannotRun, match="not approved"):
        operations.prune_backups(
            context, "db", apply=True, yes=False,
            console=Console(interactive=True, ask=lambda _prompt: "yes"),
        )  # fmt: skip
    assert len(scan(context.storage, "production", "db")) == 2
    typed = Console(interactive=True, ask=lambda _prompt: "production")
    done = operations.prune_backups(context, "db", apply=True, yes=False, console=typed)
    assert done["approval"] == "approved interactively"
    assert len(scan(context.storage, "production", "db")) == 1
    clock.advance(hours=1)
    create.run(context, "db")
    done = operations.prune_backups(
        context, "db", apply=True, yes=True, console=Console(interactive=False)
    )
    assert (done["approval"], len(done["deleted"])) == ("approved with --yes", 1)


def test_list_and_json(seeded: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    context = seeded.context("demo")
    operations.list_backups(context, "all", Console())
    assert "no backups of environment 'demo'" in capsys.readouterr().out
    operations.backup(context, ("db", "state"), dry_run=False, verify=True, console=Console())
    capsys.readouterr()
    operations.list_backups(context, "all", Console())
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
    operations.list_backups(context, "db", Console(as_json=True))
    listed = json.loads(capsys.readouterr().out)["backups"]
    assert [b["kind"] for b in listed] == ["db"]
    assert listed[0]["manifest"]["database"]["row_counts"]["users"] == 4


def test_dry_run_writes_nothing(
    seeded: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    context = seeded.context("demo")
    report = tmp_path / "plan.json"
    planned = operations.backup(
        context, ("db", "config", "state"), dry_run=True, verify=False,
        console=Console(report=report),
    )  # fmt: skip
    assert context.storage.list("demo/") == []
    assert json.loads(report.read_text()) == planned
    plans = planned["plans"]
    assert [p["kind"] for p in plans] == ["db", "config", "state"]
    assert all(p["encrypted"] for p in plans if p["kind"] == "config")
    assert "dry run: nothing written" in capsys.readouterr().out


def test_a_missing_sqlite_database_is_one_line(
    seeded: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    seeded.sqlite_path("demo").unlink()
    context = seeded.context("demo")
    with pytest.raises(BackupCannotRun, match=r"SQLite database .* does not exist"):
        operations.backup(context, ("db",), dry_run=False, verify=False, console=Console())
    assert context.storage.list("demo/") == []


def test_missing_bucket_is_one_line_before_anything(seeded: Workspace) -> None:
    seeded.define("demo", storage="s3", backup={"s3_bucket": "missing-bucket"})
    with pytest.raises(
        StorageError, match=r"bucket missing-bucket .*: check: bucket does not exist"
    ):
        create.plan(seeded.context("demo"), "db")


def test_s3_without_a_bucket_is_refused(workspace: Workspace) -> None:
    workspace.define("demo", storage="s3", backup={"s3_bucket": ""})
    with pytest.raises(StorageError, match=r"backup\.s3_bucket is not set"):
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


def test_the_pre_deploy_backup_interface(seeded: Workspace, tmp_path: Path) -> None:
    context = seeded.context("demo")
    report = tmp_path / "backup.json"
    result = operations.backup(
        context, ("db",), dry_run=False, verify=True, console=Console(report=report)
    )
    assert json.loads(report.read_text()) == result
    [db] = result["backups"]
    assert (result["environment"], db["kind"], db["ok"]) == ("demo", "db", True)
    assert db["verification"]["ok"]
    assert scan(context.storage, "demo", "db")[-1].id == db["manifest"]["id"]


def test_every_kind_is_attempted_and_a_failed_check_decides_the_code(
    seeded: Workspace, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    context = seeded.context("demo")
    real = create.run
    problems: dict[str, Exception] = {"config": StorageError("upload denied")}

    def flaky(ctx: object, kind: str) -> object:
        if kind in problems:
            raise problems[kind]
        return real(ctx, kind)  # type: ignore[arg-type]

    monkeypatch.setattr(create, "run", flaky)
    report = tmp_path / "backup.json"
    kinds = KINDS
    with pytest.raises(BackupCannotRun, match=r"^backup failed: config: upload denied$"):
        operations.backup(context, kinds, dry_run=False, verify=False, console=Console())
    problems["state"] = BackupCheckFailed("object x: missing after upload")
    with pytest.raises(
        BackupCheckFailed, match="config: upload denied; state: object x: missing after upload"
    ):
        operations.backup(
            context, kinds, dry_run=False, verify=False, console=Console(report=report)
        )
    backups = json.loads(report.read_text())["backups"]
    assert [(b["kind"], b["ok"]) for b in backups] == [
        ("db", True), ("config", False), ("state", False),
    ]  # fmt: skip
    assert len(complete(scan(context.storage, "demo", "db"))) == 2  # one per failed run
