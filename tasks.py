"""Operations tasks (`invoke --list`). This file only wires; the logic lives in ops/."""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from ops import devtasks
from ops.backup import tasks as backup_tasks
from ops.deploy import tasks as deploy_tasks


@task(help={"host": "interface to bind", "port": "port to listen on", "reload": "restart on edits"})
def dev(c: Context, host: str = "127.0.0.1", port: int = 8000, reload: bool = True) -> None:
    """Run the app locally on the embedded defaults, with reload."""
    devtasks.dev(c, host, port, reload)


@task(
    name="migrate",
    help={
        "revision": "upgrade to this revision (default head)",
        "downgrade": "downgrade to this revision instead",
        "check": "only check that the database is at head",
    },
)
def db_migrate(
    c: Context, revision: str = "head", downgrade: str | None = None, check: bool = False
) -> None:
    """Apply database migrations to DATABASE_URL (default: SQLite)."""
    devtasks.migrate(c, revision, downgrade, check)


@task(name="seed", help={"json": "print the result as JSON"})
def db_seed(c: Context, json: bool = False) -> None:
    """Create demo users, funds and holdings (idempotent)."""
    devtasks.seed(c, json)


namespace = Collection(dev, Collection("db", db_migrate, db_seed))
namespace.add_collection(backup_tasks.backup)
namespace.add_task(backup_tasks.restore)
namespace.add_task(backup_tasks.dr_drill, name="dr-drill")
for _release_task in (
    deploy_tasks.deploy,
    deploy_tasks.rollback,
    deploy_tasks.status,
    deploy_tasks.releases,
    deploy_tasks.down,
    deploy_tasks.unlock,
):
    namespace.add_task(_release_task)
