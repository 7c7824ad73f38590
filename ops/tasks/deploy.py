"""Invoke tasks for releases: deploy, rollback, status, releases, down, unlock."""

from __future__ import annotations

from pathlib import Path

from invoke.context import Context
from invoke.tasks import task

from ops.deploy import commands
from ops.project import ROOT
from ops.tasks import DRY_RUN, ENV, JSON, one_line_errors

ENV_HELP = ENV


@task(
    help={
        "env": ENV_HELP,
        "version": "version label (default: git SHA, '-dirty' when the tree has changes)",
        "dry-run": DRY_RUN,
        "yes": "approve a production deploy (the CI environment's protection rule)",
        "json": JSON,
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
    json_: bool = False,
    wait: bool = False,
    source: str | None = None,
    message: str = "",
) -> None:
    """Ship a release: gated, zero-downtime, auto-rollback."""
    with one_line_errors():
        record = commands.deploy(
            env, version=version, source=Path(source) if source else ROOT,
            dry_run=dry_run, yes=yes, wait=wait, message=message,
            backup=commands.pre_deploy_backup,
        )  # fmt: skip
    if json_:
        print(commands.as_json(record.to_dict()))


@task(
    help={
        "env": ENV_HELP,
        "to": "version to roll back to (default: the last good one)",
        "dry-run": DRY_RUN,
        "yes": "approve a production rollback",
        "json": JSON,
    }
)
def rollback(
    c: Context,
    env: str,
    to: str | None = None,
    dry_run: bool = False,
    yes: bool = False,
    json_: bool = False,
) -> None:
    """Roll back to the last good release, through the gates."""
    with one_line_errors():
        record = commands.rollback(env, to=to, dry_run=dry_run, yes=yes)
    if json_:
        print(commands.as_json(record.to_dict()))


@task(help={"env": ENV_HELP, "json": JSON})
def status(c: Context, env: str, json_: bool = False) -> None:
    """Serving version, slots, health and lock."""
    with one_line_errors():
        report = commands.status(env)
    print(commands.as_json(report) if json_ else commands.render_status(report))


@task(help={"env": ENV_HELP, "json": JSON})
def releases(c: Context, env: str, json_: bool = False) -> None:
    """Kept releases and the deploy history."""
    with one_line_errors():
        report = commands.releases(env)
    print(commands.as_json(report) if json_ else commands.render_releases(report))


@task(help={"env": ENV_HELP})
def down(c: Context, env: str) -> None:
    """Stop the proxy and app instances (deploy restarts)."""
    with one_line_errors():
        stopped = commands.down(env)
    print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


@task(help={"env": ENV_HELP, "force": "release even a lock whose holder still runs"})
def unlock(c: Context, env: str, force: bool = False) -> None:
    """Release a deploy lock left by a crashed deploy."""
    with one_line_errors():
        print(commands.unlock(env, force))
