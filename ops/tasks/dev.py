"""Developer tasks: run the app locally on the embedded defaults, migrate, seed.

Each calls the app's own command line (:func:`app.cli.main`) in this process:
its exit code -- 2 for a bad configuration or an unreachable database, 1 for a
failed check -- is the task's.
"""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from ops.tasks import JSON


def app(*args: str) -> None:
    """``python -m app ARGS`` in this process; a non-zero status ends the task with it."""
    from app.cli import main

    code = main(list(args))
    if code:
        raise Exit(code=code)


@task(help={"host": "interface to bind", "port": "port to listen on", "reload": "restart on edits"})
def dev(c: Context, host: str = "127.0.0.1", port: int = 8000, reload: bool = True) -> None:
    """Run the app locally on the embedded defaults, with reload."""
    app("migrate")
    app("seed")
    app("serve", "--host", host, "--port", str(port), *(["--reload"] if reload else []))


@task(
    name="migrate",
    help={
        "revision": "upgrade to this revision (default head)",
        "downgrade": "downgrade to this revision instead",
        "check": "only check that the database is at head (exit 1 if not)",
    },
)
def migrate(c: Context, revision: str = "head", downgrade: str = "", check: bool = False) -> None:
    """Apply database migrations to DATABASE_URL (default: SQLite)."""
    if check:
        app("migrate", "--check")
    elif downgrade:
        app("migrate", "--downgrade", downgrade)
    else:
        app("migrate", "--revision", revision)


@task(name="seed", help={"json": JSON})
def seed(c: Context, json_: bool = False) -> None:
    """Create demo users, funds and holdings (idempotent)."""
    app("seed", *(["--json"] if json_ else []))


db = Collection("db", migrate, seed)
