"""``invoke ci.feedback``: the pull request's one feedback comment, updated in place."""

from __future__ import annotations

from pathlib import Path

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from ops.core import environ
from ops.project import REPORTS, ROOT
from ops.tasks import OUTPUT_HELP, console, one_line_errors


@task(
    iterable=["job"],
    help={
        "pr": "the pull request's number (default: the pull_request event's)",
        "base": "the base commit (default: the event's pull_request.base.sha)",
        "head": "the head commit (default: the event's pull_request.head.sha, else HEAD)",
        "reports": "where the jobs' reports were downloaded (default reports/)",
        "job": "a needed job's result as NAME=RESULT, shown in the comment (repeat)",
        "dry-run": "print the comment (and write the job summary); post nothing",
        **OUTPUT_HELP,
    },
)
def feedback(
    c: Context,
    pr: int = 0,
    base: str = "",
    head: str = "",
    reports: str = "",
    job: list[str] | None = None,
    dry_run: bool = False,
    json_: bool = False,
    report: str | None = None,
) -> None:
    """Comment tests, coverage, security score and the changes since the base on the PR."""
    from ops.ci.operations import Request
    from ops.ci.operations import feedback as run_feedback

    with one_line_errors():
        request = Request(
            Path(reports) if reports else REPORTS, ROOT, pr or None, base or None,
            head or None, tuple(job or ()), dry_run,
        )  # fmt: skip
        run_feedback(request, environ.current(), console(json_, report))


ci = Collection("ci", feedback)
