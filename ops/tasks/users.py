"""``invoke users.provision``: the service accounts the gates log in as (docs/users.md)."""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from ops.core import environ
from ops.tasks import DRY_RUN, ENV, JSON, REPORT, YES, console, one_line_errors, required


@task(
    help={
        "env": ENV,
        "dry-run": DRY_RUN,
        "yes": YES,
        "login": "verify by logging in at the public URL too (--no-login: the service is "
        "not up yet)",
        "json": JSON,
        "report": REPORT,
    }
)
def provision(
    c: Context,
    env: str = "",
    dry_run: bool = False,
    yes: bool = False,
    login: bool = True,
    json_: bool = False,
    report: str | None = None,
) -> None:
    """Create or update the smoke, monitor and load users, with their balances."""
    from ops.users.operations import provision as provision_users

    with one_line_errors():
        provision_users(
            required(env, "--env", ENV), environ.current(), console(json_, report),
            dry_run=dry_run, yes=yes, login=login,
        )  # fmt: skip


users = Collection("users", provision)
