"""Invoke tasks: ``backup.db|config|state|all|list|verify|prune``, ``restore``, ``dr-drill``.

Thin: each parses its options, opens the environment and calls ops.backup.commands
(imported when a task runs, so that ``invoke --list`` and other tasks stay fast).
Every expected failure ends the program with one line and exit code 1.
"""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from ops.backup.context import BackupContext, open_context
from ops.backup.errors import BackupError
from ops.backup.layout import KINDS, Kind
from ops.backup.output import Output
from ops.core import environ
from ops.tasks import one_line_errors

ENV_HELP = "environment name (deploy/environments/NAME.toml)"
JSON_HELP = "print a machine-readable JSON result on stdout"
REPORT_HELP = "also write the JSON result to this file"
DRY_HELP = "check and show the plan; write nothing"
VERIFY_HELP = "verify the new backup end to end right away"
BACKUP_HELP = {
    "env": ENV_HELP,
    "dry_run": DRY_HELP,
    "json_": JSON_HELP,
    "report": REPORT_HELP,
    "verify": VERIFY_HELP,
}


_one_line = one_line_errors


def _context(env: str) -> BackupContext:
    if not env:
        raise BackupError("--env NAME is required")
    return open_context(env, environ.current())


def _backup(
    env: str, kinds: tuple[Kind, ...], dry_run: bool, json_: bool, report: str | None, verify: bool
) -> None:
    with _one_line():
        from ops.backup import commands

        commands.backup(_context(env), kinds, dry_run, verify, Output(json_, report))


@task(name="db", help=BACKUP_HELP)
def backup_db(
    c: Context,
    env: str = "",
    dry_run: bool = False,
    json_: bool = False,
    report: str | None = None,
    verify: bool = False,
) -> None:
    """Back up the database (pg_dump -Fc or SQLite online backup)."""
    _backup(env, ("db",), dry_run, json_, report, verify)


@task(name="config", help=BACKUP_HELP)
def backup_config(
    c: Context,
    env: str = "",
    dry_run: bool = False,
    json_: bool = False,
    report: str | None = None,
    verify: bool = False,
) -> None:
    """Back up env files, workflows and app configs (encrypted)."""
    _backup(env, ("config",), dry_run, json_, report, verify)


@task(name="state", help=BACKUP_HELP)
def backup_state(
    c: Context,
    env: str = "",
    dry_run: bool = False,
    json_: bool = False,
    report: str | None = None,
    verify: bool = False,
) -> None:
    """Back up logs, static assets and templates."""
    _backup(env, ("state",), dry_run, json_, report, verify)


@task(name="all", help=BACKUP_HELP)
def backup_all(
    c: Context,
    env: str = "",
    dry_run: bool = False,
    json_: bool = False,
    report: str | None = None,
    verify: bool = False,
) -> None:
    """Back up database, config and state (one manifest each)."""
    _backup(env, KINDS, dry_run, json_, report, verify)


@task(
    name="list",
    help={
        "env": ENV_HELP,
        "kind": "db, config, state or all (default)",
        "json_": JSON_HELP,
        "report": REPORT_HELP,
    },
)
def backup_list(
    c: Context, env: str = "", kind: str = "all", json_: bool = False, report: str | None = None
) -> None:
    """List backups: status, size, encryption, verification."""
    with _one_line():
        from ops.backup import commands

        commands.list_backups(_context(env), kind, Output(json_, report))


@task(
    name="verify",
    help={
        "env": ENV_HELP,
        "id_": "verify this backup",
        "latest": "verify the newest backup",
        "all_": "verify every complete backup",
        "kind": "db (default), config or state",
        "json_": JSON_HELP,
        "report": REPORT_HELP,
    },
)
def backup_verify(
    c: Context,
    env: str = "",
    id_: str | None = None,
    latest: bool = False,
    all_: bool = False,
    kind: str = "db",
    json_: bool = False,
    report: str | None = None,
) -> None:
    """Download, checksum, decrypt and test backups."""
    with _one_line():
        from ops.backup import commands

        commands.verify(_context(env), kind, id_, latest, all_, Output(json_, report))


@task(
    name="prune",
    help={
        "env": ENV_HELP,
        "kind": "db, config, state or all (default)",
        "apply": "delete (default: dry run)",
        "yes": "approve a production prune",
        "json_": JSON_HELP,
        "report": REPORT_HELP,
    },
)
def backup_prune(
    c: Context,
    env: str = "",
    kind: str = "all",
    apply: bool = False,
    yes: bool = False,
    json_: bool = False,
    report: str | None = None,
) -> None:
    """Apply the retention policy (dry run unless --apply)."""
    with _one_line():
        from ops.backup import commands

        commands.prune_backups(_context(env), kind, apply, yes, Output(json_, report))


@task(
    help={
        "env": ENV_HELP,
        "backup": "backup id or latest",
        "target": "database URL, env:NAME, or a directory (config/state)",
        "kind": "db (default), config or state",
        "force": "overwrite a non-empty target",
        "yes": "approve a production target",
        "dry_run": DRY_HELP,
        "json_": JSON_HELP,
        "report": REPORT_HELP,
    },
)
def restore(
    c: Context,
    env: str = "",
    backup: str = "latest",
    target: str = "",
    kind: str = "db",
    force: bool = False,
    yes: bool = False,
    dry_run: bool = False,
    json_: bool = False,
    report: str | None = None,
) -> None:
    """Restore a backup (checksum first, row counts after)."""
    with _one_line():
        if not target:
            raise BackupError("--target is required (a database URL, env:NAME or a directory)")
        options = {"force": force, "yes": yes, "dry_run": dry_run}
        from ops.backup import commands

        commands.restore_backup(_context(env), backup, target, kind, options, Output(json_, report))


@task(
    help={
        "env": ENV_HELP,
        "backup": "backup id or latest",
        "server": "PostgreSQL server URL for the "
        "scratch database (default: $DRILL_DATABASE_URL, else the environment's server)",
        "report_dir": "where reports go (default reports/drills)",
        "json_": JSON_HELP,
    },
)
def dr_drill(
    c: Context,
    env: str = "",
    backup: str = "latest",
    server: str | None = None,
    report_dir: str | None = None,
    json_: bool = False,
) -> None:
    """Restore into a scratch DB, start the app, measure RTO/RPO."""
    with _one_line():
        from ops.backup import commands

        commands.dr_drill(_context(env), backup, server, report_dir, Output(json_))


backup = Collection(
    "backup",
    backup_db,
    backup_config,
    backup_state,
    backup_all,
    backup_list,
    backup_verify,
    backup_prune,
)
