"""Invoke tasks for releases: deploy, rollback, status, releases, down, unlock.

Each parses its flags and calls :mod:`ops.deploy.operations` with the process's
variables and the task's console; docs/deploy.md is the reference.
"""

from __future__ import annotations

from pathlib import Path

from invoke.context import Context
from invoke.tasks import task

from ops.deploy import operations
from ops.project import ROOT
from ops.tasks import DRY_RUN, ENV_HELP, FORCE, YES, on_environment


@task(
    help={
        **ENV_HELP,
        "version": "version label (default: git SHA, '-dirty' when the tree has changes)",
        "dry-run": DRY_RUN,
        "yes": YES,
        "wait": "wait for a deploy already holding the lock instead of refusing",
        "source": "deploy this source tree instead of the checkout",
        "message": "why, for the lock and the deploy history",
        "image": "Kubernetes: deploy this image CI built (REPOSITORY:VERSION@sha256:DIGEST)",
    }
)
def deploy(
    c: Context,
    env: str = "",
    version: str = "",
    dry_run: bool = False,
    yes: bool = False,
    json_: bool = False,
    report: str | None = None,
    wait: bool = False,
    source: str = "",
    message: str = "",
    image: str = "",
) -> None:
    """Ship a release: gated, zero-downtime, auto-rollback."""
    on_environment(
        operations.deploy, env, json_, report, version=version or None,
        source=Path(source) if source else ROOT, dry_run=dry_run, yes=yes, wait=wait,
        message=message, image=image or None,
    )  # fmt: skip


@task(
    help={
        **ENV_HELP,
        "to": "version to roll back to (default: the last good one)",
        "dry-run": DRY_RUN,
        "yes": YES,
    }
)
def rollback(
    c: Context,
    env: str = "",
    to: str = "",
    dry_run: bool = False,
    yes: bool = False,
    json_: bool = False,
    report: str | None = None,
) -> None:
    """Roll back to the last good release, through the gates."""
    on_environment(operations.rollback, env, json_, report, to=to or None, dry_run=dry_run, yes=yes)


@task(help=ENV_HELP)
def status(c: Context, env: str = "", json_: bool = False, report: str | None = None) -> None:
    """Serving version, slots, health and lock."""
    on_environment(operations.status, env, json_, report)


@task(help=ENV_HELP)
def releases(c: Context, env: str = "", json_: bool = False, report: str | None = None) -> None:
    """Kept releases and the deploy history."""
    on_environment(operations.releases, env, json_, report)


@task(help={**ENV_HELP, "dry-run": DRY_RUN})
def down(
    c: Context, env: str = "", dry_run: bool = False, json_: bool = False,
    report: str | None = None,
) -> None:  # fmt: skip
    """Stop the proxy and app instances (deploy restarts)."""
    on_environment(operations.down, env, json_, report, dry_run=dry_run)


@task(
    help={
        **ENV_HELP,
        "force": f"{FORCE}: release even a lock whose holder still runs",
        "dry-run": DRY_RUN,
    }
)
def unlock(
    c: Context, env: str = "", force: bool = False, dry_run: bool = False,
    json_: bool = False, report: str | None = None,
) -> None:  # fmt: skip
    """Release a deploy lock left by a crashed deploy."""
    on_environment(operations.unlock, env, json_, report, force=force, dry_run=dry_run)
