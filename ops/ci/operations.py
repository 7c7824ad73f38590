"""``invoke ci.feedback``: build the pull request's feedback comment and publish it.

The pull request, its base and its head come from the options or from the event GitHub
Actions describes in ``GITHUB_EVENT_PATH`` (a ``pull_request`` event); the repository from
``GITHUB_REPOSITORY``, the token from ``GITHUB_TOKEN``, the API from ``GITHUB_API_URL``.
The comment goes to the job summary too. ``--dry-run`` prints it and posts nothing; so
does a pull request from a fork, whose workflow token is read-only (saying so). Exit 0
when the comment is posted (whatever it reports: feedback, not a gate), 2 when it cannot
be (no token, no pull request, GitHub refusing or unreachable).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ops.ci.comment import Published, PullRequestComments, publish
from ops.ci.feedback import gather, markdown
from ops.core.console import Console
from ops.core.exits import CannotRun
from ops.core.github import REPOSITORY, REPOSITORY_ENV, TOKEN_ENV, api_url, connect

EVENT_ENV = "GITHUB_EVENT_PATH"
TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class PullRequest:
    """What the event says of the pull request (every part may be unknown)."""

    number: int | None = None
    base: str | None = None
    head: str | None = None
    head_repository: str | None = None


@dataclass(frozen=True, slots=True)
class Request:
    """What ``invoke ci.feedback`` was asked."""

    reports: Path
    root: Path
    number: int | None = None
    base: str | None = None
    head: str | None = None
    jobs: Sequence[str] = ()
    dry_run: bool = False


def read_event(env: Mapping[str, str]) -> PullRequest:
    """The pull request of the ``pull_request`` event in ``GITHUB_EVENT_PATH`` (nothing
    known without one); a file that is not JSON cannot run."""
    where = env.get(EVENT_ENV)
    if not where or not Path(where).is_file():
        return PullRequest()
    try:
        event = json.loads(Path(where).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise CannotRun(f"{EVENT_ENV} ({where}) is not a JSON event: {error}") from None
    pull = event.get("pull_request") if isinstance(event, dict) else None
    if not isinstance(pull, dict):
        return PullRequest()
    head = pull.get("head") or {}
    # a fork since deleted has "repo": null -- still not this repository
    repository = str((head["repo"] or {}).get("full_name", "")) if "repo" in head else None
    return PullRequest(
        int(pull["number"]) if "number" in pull else None,
        (pull.get("base") or {}).get("sha"),
        head.get("sha"),
        repository,
    )


def job_results(jobs: Sequence[str]) -> dict[str, str]:
    """``NAME=RESULT`` pairs (``tests=failure``) as a mapping, in their order."""
    results = {}
    for pair in jobs:
        name, equals, result = pair.partition("=")
        if not equals or not name.strip() or not result.strip():
            raise CannotRun(f"--job {pair!r}: expected NAME=RESULT (e.g. tests=success)")
        results[name.strip()] = result.strip()
    return results


def run_url(env: Mapping[str, str]) -> str:
    """This workflow run's page, when GitHub Actions says where it is."""
    parts = [env.get(name, "") for name in ("GITHUB_SERVER_URL", REPOSITORY_ENV, "GITHUB_RUN_ID")]
    return f"{parts[0]}/{parts[1]}/actions/runs/{parts[2]}" if all(parts) else ""


def feedback(request: Request, env: Mapping[str, str], console: Console) -> None:
    """Build the comment, put it in the job summary, and publish it (or say why not)."""
    event = read_event(env)
    number = request.number or event.number
    head = request.head or event.head or "HEAD"
    jobs = job_results(request.jobs)
    found = gather(request.reports, request.root, request.base or event.base, head, jobs)
    body = markdown(found, head if head != "HEAD" else "", run_url(env))
    console.summary(body)
    result: dict[str, Any] = {"pull_request": number, "problems": found.problems}
    skipped = _not_posting(request, env, event)
    if skipped:
        console.say(body)
        console.say(skipped)
        console.result({**result, "posted": False, "reason": skipped, "body": body})
        return
    published = _publish(env, number, body)
    console.say(published.describe(number or 0))
    console.result({**result, "posted": True, "action": published.action,
                    "comment_id": published.id, "url": published.url})  # fmt: skip


def _not_posting(request: Request, env: Mapping[str, str], event: PullRequest) -> str:
    """Why the comment is only shown, or "" when it is to be posted."""
    if request.dry_run:
        return "dry run: nothing posted"
    repository = _repository(env)
    if event.head_repository is not None and event.head_repository.lower() != repository.lower():
        return (
            f"pull request from a fork ({event.head_repository or 'deleted'}): its workflow "
            "token is read-only, so the feedback is in the job summary only"
        )
    return ""


def _repository(env: Mapping[str, str]) -> str:
    repository = env.get(REPOSITORY_ENV, "")
    if not REPOSITORY.match(repository):
        raise CannotRun(f"{REPOSITORY_ENV} must be owner/name (it is {repository!r})")
    return repository


def _publish(env: Mapping[str, str], number: int | None, body: str) -> Published:
    repository, token = _repository(env), env.get(TOKEN_ENV, "")
    if not token:
        raise CannotRun(f"{TOKEN_ENV} is not set (the workflow passes github.token)")
    if number is None:
        raise CannotRun(f"no pull request: --pr N, or {EVENT_ENV} of a pull_request event")
    with connect(token, api_url(env), timeout=TIMEOUT_SECONDS) as api:
        return publish(PullRequestComments(api, repository, number), body)
