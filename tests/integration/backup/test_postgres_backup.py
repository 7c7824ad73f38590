"""PostgreSQL backups against the real server and the real S3 server: a 100k-order round
trip, plain pg_restore of the stored file, version guards, a killed backup, the
non-empty target guard, and a drill on a scratch database."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ops.backup import create, drill, prune, restore
from ops.backup.catalog import scan
from ops.backup.errors import BackupCannotRun
from ops.backup.layout import object_key
from ops.backup.retention import INCOMPLETE_GRACE
from ops.backup.verify import verify
from ops.core.console import Console
from ops.core.exits import CANNOT_RUN
from ops.project import ROOT as REPO_ROOT
from tests.integration.backup.conftest import orders_digest, path_with, shim, sql
from tests.support import backends
from tests.support.invoke import run_invoke, subprocess_env
from tests.support.s3 import BUCKET
from tests.support.workspace import FakeClock, Workspace


def _pg_env(workspace: Workspace, url: str, **backup: object) -> None:
    workspace.define(
        "pg",
        storage=str(backup.pop("storage", "s3")),
        backup=backup,
        top={"required_secrets": ["DATABASE_URL"]},
    )
    workspace.extra_env["DATABASE_URL"] = url


def test_round_trip_of_100k_orders_and_plain_pg_restore(
    workspace: Workspace, big_pg: str, empty_pg_url: str, tmp_path: Path
) -> None:
    _pg_env(workspace, big_pg)
    context = workspace.context("pg")
    manifest = create.run(context, "db")
    assert manifest.database is not None
    assert manifest.database.row_counts["orders"] == 100_000
    assert manifest.database.tool == "pg_dump"
    assert (
        manifest.database.server_version == manifest.database.tool_version == _server_major(big_pg)
    )
    assert verify(context, scan(context.storage, "pg", "db")[-1]).ok
    plan = restore.plan(context, "latest", empty_pg_url, "db")
    assert plan.empty
    restore.apply(context, plan)
    assert orders_digest(empty_pg_url) == orders_digest(big_pg)
    # The runbook: download the object, check its sha256, plain pg_restore.
    assert workspace.s3 is not None
    key = f"t-{workspace.root.parent.name}/{object_key('pg', 'db', manifest.id, 'database.pgdump')}"
    local = tmp_path / "database.pgdump"
    workspace.s3.client().download_file(BUCKET, key, str(local))
    assert hashlib.sha256(local.read_bytes()).hexdigest() == manifest.objects[0].sha256
    with backends.throwaway_database("trading_runbook") as url:
        subprocess.run(
            ["pg_restore", "--no-owner", "--dbname", backends.asyncpg_dsn(url), str(local)],
            check=True,
        )
        assert orders_digest(url) == orders_digest(big_pg)


def test_encrypted_backup_restores_by_the_runbook(
    workspace: Workspace, pg_url: str, empty_pg_url: str, tmp_path: Path
) -> None:
    _pg_env(workspace, pg_url, storage="local", encrypt_database=True)
    context = workspace.context("pg")
    manifest = create.run(context, "db")
    stored = workspace.root / "store" / object_key("pg", "db", manifest.id, "database.pgdump.enc")
    assert stored.read_bytes()[:8] == b"TPBKENC1"
    plain = tmp_path / "database.pgdump"
    done = subprocess.run(
        [sys.executable, "-m", "ops.backup", "decrypt", str(stored), str(plain)],
        env=subprocess_env({"BACKUP_ENCRYPTION_KEY": workspace.env()["BACKUP_ENCRYPTION_KEY"]}),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    subprocess.run(
        ["pg_restore", "--no-owner", "-d", backends.asyncpg_dsn(empty_pg_url), str(plain)],
        check=True,
    )
    assert orders_digest(empty_pg_url) == orders_digest(pg_url)


def test_an_older_pg_dump_is_refused(workspace: Workspace, pg_url: str, tmp_path: Path) -> None:
    _pg_env(workspace, pg_url, storage="local")
    real = shutil.which("pg_dump")
    fake = shim(
        tmp_path / "bin",
        "pg_dump",
        f'[ "$1" = --version ] && echo "pg_dump (PostgreSQL) 14.9" && exit 0\nexec {real} "$@"\n',
    )
    done = run_invoke("backup.db", "--env", "pg", env=workspace.env(PATH=path_with(fake.parent)))
    assert done.returncode == CANNOT_RUN
    server = _server_major(pg_url)
    assert done.stderr.strip().splitlines() == [
        f"error: pg_dump 14.9 is older than the server ({server}): install the PostgreSQL "
        f"{server.split('.')[0]} client tools (or newer) and put them first on PATH"
    ]
    assert not (workspace.root / "store").exists() or not any((workspace.root / "store").rglob("*"))


def _server_major(url: str) -> str:
    version = str(sql(url, "SHOW server_version")[0][0]).split()[0]
    major, minor = [*version.split("."), "0"][:2]
    return f"{major}.{minor}"


def test_an_older_pg_restore_is_refused(
    workspace: Workspace, pg_url: str, empty_pg_url: str, tmp_path: Path
) -> None:
    _pg_env(workspace, pg_url, storage="local")
    create.run(workspace.context("pg"), "db")
    shim(tmp_path / "bin", "pg_restore", 'echo "pg_restore (PostgreSQL) 12.1"\n')
    context = workspace.context("pg", PATH=path_with(tmp_path / "bin"))  # found on env's PATH
    plan = restore.plan(context, "latest", empty_pg_url, "db")
    with pytest.raises(
        BackupCannotRun, match=r"pg_restore 12.1 is older than the archive's pg_dump"
    ):
        restore.apply(context, plan)
    assert (
        sql(empty_pg_url, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")[0][0] == 0
    )


def test_a_killed_backup_is_never_listed_as_complete(
    workspace: Workspace, pg_url: str, tmp_path: Path
) -> None:
    _pg_env(workspace, pg_url, storage="local")
    marker = tmp_path / "dumped"
    real = shutil.which("pg_dump")
    stuck = shim(
        tmp_path / "bin",
        "pg_dump",
        f'[ "$1" = --version ] && exec {real} --version\n{real} "$@"\ntouch {marker}\nsleep 600\n',
    )
    env = subprocess_env(workspace.env(PATH=path_with(stuck.parent)))
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "invoke",
            "--search-root",
            str(REPO_ROOT),
            "backup.db",
            "--env",
            "pg",
        ],
        env=env,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while not marker.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    assert marker.exists(), process.communicate()
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    listed = run_invoke("backup.list", "--env", "pg", "--json", env=workspace.env())
    backups = json.loads(listed.stdout)["backups"]
    assert [b["complete"] for b in backups] == [False]
    assert any(".partial-" in path.name for path in (workspace.root / "store").rglob("*"))
    context = workspace.context("pg")
    complete = create.run(context, "db")
    assert scan(context.storage, "pg", "db")[-1].id == complete.id
    restored = run_invoke(
        "restore",
        "--env",
        "pg",
        "--target",
        "sqlite:////nonexistent/x.db",
        "--dry-run",
        env=workspace.env(),
    )
    assert "is a postgresql backup; the target is sqlite" in restored.stderr
    clock = FakeClock(context.clock() + INCOMPLETE_GRACE * 2)
    context.clock = clock
    steps = prune.plan(context, "db")
    assert [s.decision.keep for s in steps] == [True, False]
    prune.apply(context, steps)
    assert [e.id for e in scan(context.storage, "pg", "db")] == [complete.id]


def test_non_empty_target_needs_force(workspace: Workspace, pg_url: str, pg_template: str) -> None:
    _pg_env(workspace, pg_url, storage="local")
    context = workspace.context("pg")
    create.run(context, "db")
    with backends.throwaway_database("trading_target", pg_template) as target:
        sql(target, "DELETE FROM positions")
        plan = restore.plan(context, "latest", target, "db")
        assert not plan.empty
        with pytest.raises(BackupCannotRun, match=r"is not empty: pass --force to overwrite it"):
            restore.guard(plan, force=False, yes=False, console=Console(interactive=False))
        done = run_invoke("restore", "--env", "pg", "--target", target, env=workspace.env())
        assert done.returncode == CANNOT_RUN
        assert done.stderr.strip().endswith("is not empty: pass --force to overwrite it")
        forced = run_invoke(
            "restore", "--env", "pg", "--target", target, "--force", env=workspace.env()
        )
        assert forced.returncode == 0, forced.stderr
        assert orders_digest(target) == orders_digest(pg_url)
        assert sql(target, "SELECT count(*) FROM positions")[0][0] > 0


def test_passwords_never_reach_the_output(workspace: Workspace, pg_url: str) -> None:
    with_password = pg_url.replace("postgres@", "postgres:Hunter2-not-shown@")
    _pg_env(workspace, with_password, storage="local")
    done = run_invoke("backup.db", "--env", "pg", "--json", env=workspace.env())
    assert done.returncode == 0, done.stderr
    assert "Hunter2" not in done.stdout + done.stderr
    manifest = json.loads(done.stdout)["backups"][0]["manifest"]
    assert "***" in manifest["database"]["database"]
    bad = run_invoke(
        "backup.db", "--env", "pg", env=workspace.env(DATABASE_URL=with_password + "_missing")
    )
    assert bad.returncode == CANNOT_RUN  # an unreachable database
    assert len(bad.stderr.strip().splitlines()) == 1
    assert "does not exist" in bad.stderr
    assert "Hunter2" not in bad.stderr


def test_a_drill_on_a_scratch_database(workspace: Workspace, big_pg: str, tmp_path: Path) -> None:
    _pg_env(workspace, big_pg, encrypt_database=True)
    context = workspace.context("pg")
    create.run(context, "db")
    steps: list[str] = []
    report = drill.run(
        context, steps.append, server_url=backends.postgres_admin_url(), report_dir=tmp_path
    )
    assert report.ok, report.failures
    assert report.scratch_database is not None
    assert report.scratch_database.split("/")[-1].startswith("drill_pg_")
    assert report.steps[-1].name == "drop scratch database"
    assert steps[-1] == report.steps[-1].line(drill.STEP_NAME_WIDTH)
    assert "newest restored order" in report.steps[-2].detail
    left = sql(
        backends.postgres_admin_url(),
        "SELECT count(*) FROM pg_database WHERE datname LIKE 'drill_pg_%'",
    )
    assert left[0][0] == 0
    saved = json.loads((tmp_path / "pg" / f"{report.drill_id}.json").read_text())
    assert saved["rto_seconds"] > 0
    assert saved["rpo_seconds"] >= 0
