"""Invoke tasks for releases: deploy, rollback, status, releases, down, unlock."""

from __future__ import annotations

from pathlib import Path

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from ops.deploy import commands
from ops.project import ROOT

ENV_HELP = "environment name (deploy/environments/NAME.toml)"


def _fail(error: commands.CommandError) -> Exit:
    return Exit(f"error: {error}", code=1)


@task(
    help={
        "env": ENV_HELP,
        "version": "version label (default: git SHA, '-dirty' when the tree has changes)",
        "dry-run": "print the plan and change nothing",
        "yes": "approve a production deploy (the CI environment's protection rule)",
        "json": "print the deploy record as JSON on stdout",
        "wait": "wait for a deploy already holding the lock instead of failing",
        "source": "deploy this source tree instead of the checkout",
        "message": "why, for the lock and the audit log",
    }
)
def deploy(
    c: Context,
    env: str,
    version: str | None = None,
    dry_run: bool = False,
    yes: bool = False,
    json: bool = False,
    wait: bool = False,
    source: str | None = None,
    message: str = "",
) -> None:
    """Ship a release: gated, zero-downtime, auto-rollback."""
    try:
        record = commands.deploy(
            env, version=version, source=Path(source) if source else ROOT,
            dry_run=dry_run, yes=yes, wait=wait, message=message,
            backup=commands.pre_deploy_backup,
        )  # fmt: skip
    except commands.CommandError as error:
        raise _fail(error) from None
    if json:
        print(commands.as_json(record.to_dict()))


@task(
    help={
        "env": ENV_HELP,
        "to": "version to roll back to (default: the last good one)",
        "dry-run": "print the plan and change nothing",
        "yes": "approve a production rollback",
        "json": "print the record as JSON",
    }
)
def rollback(
    c: Context,
    env: str,
    to: str | None = None,
    dry_run: bool = False,
    yes: bool = False,
    json: bool = False,
) -> None:
    """Roll back to the last good release, through the gates."""
    try:
        record = commands.rollback(env, to=to, dry_run=dry_run, yes=yes)
    except commands.CommandError as error:
        raise _fail(error) from None
    if json:
        print(commands.as_json(record.to_dict()))


@task(help={"env": ENV_HELP, "json": "print as JSON"})
def status(c: Context, env: str, json: bool = False) -> None:
    """Serving version, slots, health and lock."""
    try:
        report = commands.status(env)
    except commands.CommandError as error:
        raise _fail(error) from None
    print(commands.as_json(report) if json else commands.render_status(report))


@task(help={"env": ENV_HELP, "json": "print as JSON"})
def releases(c: Context, env: str, json: bool = False) -> None:
    """Kept releases and the deploy history."""
    try:
        report = commands.releases(env)
    except commands.CommandError as error:
        raise _fail(error) from None
    print(commands.as_json(report) if json else commands.render_releases(report))


@task(help={"env": ENV_HELP})
def down(c: Context, env: str) -> None:
    """Stop the proxy and app instances (deploy restarts)."""
    try:
        stopped = commands.down(env)
    except commands.CommandError as error:
        raise _fail(error) from None
    print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


@task(help={"env": ENV_HELP, "force": "release even a lock whose holder still runs"})
def unlock(c: Context, env: str, force: bool = False) -> None:
    """Release a deploy lock left by a crashed deploy."""
    try:
        print(commands.unlock(env, force))
    except commands.CommandError as error:
        raise _fail(error) from None
