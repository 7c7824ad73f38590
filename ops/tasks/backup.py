"""Invoke tasks: ``backup.db|config|state|all|list|verify|prune``, ``restore``, ``dr-drill``.

Thin: each parses its flags and calls :mod:`ops.backup.operations` (imported when
a task runs, so that ``invoke --list`` and other tasks stay fast). An expected
failure ends the task with one line and the exit code of :mod:`ops.core.exits`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import Task, task

from ops.backup.context import BackupContext, open_context
from ops.backup.layout import KINDS, Kind
from ops.core import environ
from ops.tasks import DRY_RUN, ENV_HELP, FORCE, YES, console, one_line_errors, required

KIND_ALL = "db, config, state or all (default)"
KIND_ONE = "db (default), config or state"
BACKUP_HELP = {
    **ENV_HELP,
    "dry-run": DRY_RUN,
    "verify": "verify the new backup end to end right away",
}


def _context(env: str) -> BackupContext:
    name = required(env, "--env", "the environment: deploy/environments/NAME.toml")
    return open_context(name, environ.current())


def _backup_task(name: str, kinds: tuple[Kind, ...], summary: str) -> Task[Callable[..., Any]]:
    """``backup.<name>``: back up ``kinds`` (the four backup tasks differ only in these)."""

    def back_up(
        c: Context,
        env: str = "",
        dry_run: bool = False,
        json_: bool = False,
        report: str | None = None,
        verify: bool = False,
    ) -> None:
        with one_line_errors():
            from ops.backup import operations

            operations.backup(
                _context(env), kinds, dry_run=dry_run, verify=verify,
                console=console(json_, report),
            )  # fmt: skip

    back_up.__doc__ = summary
    made: Task[Callable[..., Any]] = task(name=name, help=dict(BACKUP_HELP))(back_up)
    return made


backup_db = _backup_task(
    "db", ("db",), "Back up the database (pg_dump -Fc or SQLite online backup)."
)
backup_config = _backup_task(
    "config", ("config",), "Back up env files, workflows and app configs (encrypted)."
)
backup_state = _backup_task("state", ("state",), "Back up logs, static assets and templates.")
backup_all = _backup_task("all", KINDS, "Back up database, config and state (one manifest each).")


@task(name="list", help={**ENV_HELP, "kind": KIND_ALL})
def backup_list(
    c: Context, env: str = "", kind: str = "all", json_: bool = False, report: str | None = None
) -> None:
    """List backups: status, size, encryption, verification."""
    with one_line_errors():
        from ops.backup import operations

        operations.list_backups(_context(env), kind, console(json_, report))


@task(
    name="verify",
    help={
        **ENV_HELP,
        "id": "verify this backup",
        "latest": "verify the newest backup",
        "all": "verify every complete backup",
        "kind": KIND_ONE,
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
    with one_line_errors():
        from ops.backup import operations

        operations.verify_backups(
            _context(env), kind, id_, latest=latest, every=all_, console=console(json_, report)
        )


@task(
    name="prune",
    help={**ENV_HELP, "kind": KIND_ALL, "apply": "delete (default: a dry run)", "yes": YES},
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
    with one_line_errors():
        from ops.backup import operations

        operations.prune_backups(
            _context(env), kind, apply=apply, yes=yes, console=console(json_, report)
        )


@task(
    help={
        **ENV_HELP,
        "backup": "backup id or latest",
        "target": "database URL, env:NAME, or a directory (config/state)",
        "kind": KIND_ONE,
        "force": f"{FORCE}: overwrite a non-empty target",
        "yes": YES,
        "dry-run": DRY_RUN,
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
    with one_line_errors():
        where = required(target, "--target", "a database URL, env:NAME or a directory")
        from ops.backup import operations

        operations.restore_backup(
            _context(env), backup, where, kind, force=force, yes=yes, dry_run=dry_run,
            console=console(json_, report),
        )  # fmt: skip


@task(
    help={
        **ENV_HELP,
        "backup": "backup id or latest",
        "server": "PostgreSQL server URL for the "
        "scratch database (default: $DRILL_DATABASE_URL, else the environment's server)",
        "report-dir": "where the drill reports go (default reports/drills)",
    },
)
def dr_drill(
    c: Context,
    env: str = "",
    backup: str = "latest",
    server: str | None = None,
    report_dir: str | None = None,
    json_: bool = False,
    report: str | None = None,
) -> None:
    """Restore into a scratch DB, start the app, measure RTO/RPO."""
    with one_line_errors():
        from ops.backup import operations

        operations.dr_drill(
            _context(env), backup, server=server,
            report_dir=Path(report_dir) if report_dir else None, console=console(json_, report),
        )  # fmt: skip


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
