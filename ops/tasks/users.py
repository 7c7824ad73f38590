"""``invoke users.provision``: the service accounts the gates log in as (docs/users.md)."""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from ops.tasks import DRY_RUN, ENV_HELP, YES, on_environment


@task(
    help={
        **ENV_HELP,
        "dry-run": DRY_RUN,
        "yes": YES,
        "login": "verify by logging in at the public URL too (--no-login: the service is "
        "not up yet)",
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

    on_environment(provision_users, env, json_, report, dry_run=dry_run, yes=yes, login=login)


users = Collection("users", provision)
