"""Invoke tasks for releases: deploy, rollback, status, releases, down, unlock.

Each parses its flags and calls :mod:`ops.deploy.operations` with the process's
variables and the task's console; docs/deploy.md is the reference.
"""

from __future__ import annotations

from pathlib import Path

from invoke.context import Context
from invoke.tasks import task

from ops.core import environ
from ops.deploy import operations
from ops.project import ROOT
from ops.tasks import DRY_RUN, ENV, FORCE, JSON, REPORT, YES, console, one_line_errors, required


def _env(name: str) -> str:
    return required(name, "--env", ENV)


@task(
    help={
        "env": ENV,
        "version": "version label (default: git SHA, '-dirty' when the tree has changes)",
        "dry-run": DRY_RUN,
        "yes": YES,
        "json": JSON,
        "report": REPORT,
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
    with one_line_errors():
        operations.deploy(
            _env(env), environ.current(), console(json_, report), version=version or None,
            source=Path(source) if source else ROOT, dry_run=dry_run, yes=yes, wait=wait,
            message=message, image=image or None,
        )  # fmt: skip


@task(
    help={
        "env": ENV,
        "to": "version to roll back to (default: the last good one)",
        "dry-run": DRY_RUN,
        "yes": YES,
        "json": JSON,
        "report": REPORT,
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
    with one_line_errors():
        operations.rollback(
            _env(env), environ.current(), console(json_, report), to=to or None,
            dry_run=dry_run, yes=yes,
        )  # fmt: skip


@task(help={"env": ENV, "json": JSON, "report": REPORT})
def status(c: Context, env: str = "", json_: bool = False, report: str | None = None) -> None:
    """Serving version, slots, health and lock."""
    with one_line_errors():
        operations.status(_env(env), environ.current(), console(json_, report))


@task(help={"env": ENV, "json": JSON, "report": REPORT})
def releases(c: Context, env: str = "", json_: bool = False, report: str | None = None) -> None:
    """Kept releases and the deploy history."""
    with one_line_errors():
        operations.releases(_env(env), environ.current(), console(json_, report))


@task(help={"env": ENV, "dry-run": DRY_RUN, "json": JSON, "report": REPORT})
def down(
    c: Context, env: str = "", dry_run: bool = False, json_: bool = False,
    report: str | None = None,
) -> None:  # fmt: skip
    """Stop the proxy and app instances (deploy restarts)."""
    with one_line_errors():
        operations.down(_env(env), environ.current(), console(json_, report), dry_run=dry_run)


@task(
    help={
        "env": ENV,
        "force": f"{FORCE}: release even a lock whose holder still runs",
        "dry-run": DRY_RUN,
        "json": JSON,
        "report": REPORT,
    }
)
def unlock(
    c: Context, env: str = "", force: bool = False, dry_run: bool = False,
    json_: bool = False, report: str | None = None,
) -> None:  # fmt: skip
    """Release a deploy lock left by a crashed deploy."""
    with one_line_errors():
        operations.unlock(
            _env(env), environ.current(), console(json_, report), force=force, dry_run=dry_run
        )
