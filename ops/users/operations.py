"""``invoke users.provision``: an environment's service accounts, made as its definition
says -- status -> plan -> confirm -> apply -> verify.

1. status: every account's password is resolved first (a missing secret stops the run
   before anything is read), then the environment's database is read: where each account
   stands and what is missing (``app.services.provisioning.inspect``);
2. plan: one line per account, ``ok`` or its changes (create, set password, re-activate,
   deposit, transfer in); a user of another role refuses the run here;
3. confirm: a production change needs approval (``--yes`` or typed at a terminal);
4. apply: one step per account that needs a change, each in its own transaction;
5. verify: the database read again shows nothing left to do, and the gate users (and
   one load account of each role) log in at the public URL -- unless ``--no-login``
   (before a first deploy; CD's smoke gate, perf step and monitor log in as them anyway).

``--dry-run`` stops after the plan. The JSON result never holds a password.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any, TypeVar

from sqlalchemy.exc import SQLAlchemyError

from app.db.engine import Database
from app.services import provisioning
from app.services.errors import ServiceError
from app.settings import async_database_url
from ops.backup.database import safe_url
from ops.core.console import Console, table
from ops.core.exits import CannotRun, CheckFailed, one_line
from ops.core.steps import StepLog
from ops.environments import (
    EnvironmentDefinition,
    environments_dir,
    known_secrets,
    load_environment,
)
from ops.live.client import TradingClient
from ops.users.accounts import ServiceUser, gate_users, service_users

T = TypeVar("T")
STEP_WIDTH = 7


def provision(
    name: str,
    env: Mapping[str, str],
    console: Console,
    *,
    dry_run: bool = False,
    yes: bool = False,
    login: bool = True,
) -> dict[str, Any]:
    """Create or update the service accounts of environment ``name``; the result it also
    reports. :class:`CannotRun` before any change (a missing password, an unreachable
    database, a refusal); :class:`~ops.core.steps.StepFailed` (exit 1) when a step fails."""
    environment = load_environment(name, environments_dir(env))
    secrets = known_secrets(environment, env)
    users = service_users(environment)
    if not users:
        raise CannotRun(f"{name}: [users] provision lists no service account")
    wanted = [user.wanted(secrets, environment) for user in users]
    url = _database_url(environment, secrets)
    console.say(f"users {name}: {len(users)} service accounts in {safe_url(url)}")
    with ServiceDatabase(url) as database:
        return _provision(environment, console, database, users, wanted,
                          dry_run=dry_run, yes=yes, login=login)  # fmt: skip


def _provision(
    environment: EnvironmentDefinition,
    console: Console,
    database: ServiceDatabase,
    users: Sequence[ServiceUser],
    wanted: Sequence[provisioning.Wanted],
    *,
    dry_run: bool,
    yes: bool,
    login: bool,
) -> dict[str, Any]:
    name = environment.name
    found = database.inspect(wanted)
    console.say(_plan_table(users, found))
    entries = [_entry(user, item) for user, item in zip(users, found, strict=True)]
    result: dict[str, Any] = {"environment": name, "dry_run": dry_run, "accounts": entries}
    pending = [(user, item) for user, item, seen in zip(users, wanted, found, strict=True)
               if seen.pending]  # fmt: skip
    if dry_run:
        console.say("dry run: nothing changed")
        console.result(result)
        return result
    if pending and (environment.approval_required or environment.is_production):
        result["approval"] = console.approve(
            f"Change {len(pending)} service accounts of {name}?", name, yes=yes,
            needed_for=f"changing {name}'s service accounts",
        )  # fmt: skip
    log = StepLog(console.say, width=STEP_WIDTH)
    try:
        for user, item in pending:
            log.run("apply", partial(database.ensure, item), partial(_changed, user.email))
        log.run("verify", lambda: _verify(environment, database, users, wanted, login=login))
    finally:
        result["steps"] = [step.to_dict() for step in log.steps]
        result["result"] = "failed" if log.failed else "succeeded"
        console.result(result)
    return result


def _database_url(environment: EnvironmentDefinition, secrets: Mapping[str, str]) -> str:
    try:
        return async_database_url(environment.database_url(secrets))
    except ValueError as error:
        raise CannotRun(f"DATABASE_URL: {error}") from None


class ServiceDatabase:
    """The environment's database for one run: one engine on one event loop, opened once
    and closed at the end (the status, every apply and the verification share them). An
    unreachable database or a refusal of the service is :class:`CannotRun`, one line."""

    def __init__(self, url: str) -> None:
        self.url = url
        with self._translated():
            self._database = Database(url, pool_size=1)
        self._runner = asyncio.Runner()

    def run(self, work: Callable[[Database], Coroutine[Any, Any, T]]) -> T:
        """``work`` on the database, to its end."""
        with self._translated():
            return self._runner.run(work(self._database))

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except ServiceError as error:
            raise CannotRun(str(error)) from None
        except (SQLAlchemyError, OSError) as error:
            raise CannotRun(f"database {safe_url(self.url)}: {one_line(error)}") from None

    def inspect(self, wanted: Sequence[provisioning.Wanted]) -> list[provisioning.Found]:
        """Where each account stands (:func:`app.services.provisioning.inspect`)."""
        return self.run(lambda db: provisioning.inspect(db.sessions, wanted))

    def ensure(self, wanted: provisioning.Wanted) -> list[str]:
        """Make one account so (:func:`app.services.provisioning.ensure`)."""
        return self.run(lambda db: provisioning.ensure(db.sessions, wanted))

    def __enter__(self) -> ServiceDatabase:
        return self

    def __exit__(self, *_exc: object) -> None:
        try:
            self._runner.run(self._database.dispose())
        finally:
            self._runner.close()


def _changed(email: str, changes: list[str]) -> str:
    return f"{email}: {'; '.join(changes) or 'nothing (changed meanwhile)'}"


def _verify(
    environment: EnvironmentDefinition,
    database: ServiceDatabase,
    users: Sequence[ServiceUser],
    wanted: Sequence[provisioning.Wanted],
    *,
    login: bool,
) -> str:
    """Nothing is left to do, and (``login``) the gate users log in at the public URL."""
    found = database.inspect(wanted)
    left = [f"{item.email}: {'; '.join(item.pending)}" for item in found if item.pending]
    if left:
        raise CheckFailed(f"still to do after the apply: {left[0]}")
    if not login:
        return f"{len(found)} accounts as planned (no login at the public URL)"
    passwords = {item.email.lower(): item.password for item in wanted}
    checked = gate_users(users)
    with TradingClient(environment.public_url) as client:
        for user in checked:
            client.login(user.email, passwords[user.email.lower()])
    return f"{len(found)} accounts as planned; {len(checked)} logged in at {environment.public_url}"


def _plan_table(users: Sequence[ServiceUser], found: Sequence[provisioning.Found]) -> str:
    rows = [
        (user.kind, user.role or "", user.email, "; ".join(item.pending) or "ok")
        for user, item in zip(users, found, strict=True)
    ]
    return table(("kind", "role", "email", "plan"), rows)


def _entry(user: ServiceUser, found: provisioning.Found) -> dict[str, Any]:
    return {
        "kind": user.kind, "email": user.email, "role": user.role, "exists": found.exists,
        "cash": str(found.cash), "pending": list(found.pending),
    }  # fmt: skip
