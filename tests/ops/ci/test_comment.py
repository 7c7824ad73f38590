"""The feedback comment against a local stand-in for GitHub's REST API: posted once, then
edited in place; found on any page; never two, even when another run posts at the same
time; refusals in one line with exit 2; the token never shown."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ops.ci.comment import PullRequestComments, publish
from ops.ci.feedback import MARKER
from ops.ci.operations import Request, feedback, read_event
from ops.core.console import Console
from ops.core.exits import CANNOT_RUN, DONE, CannotRun
from ops.core.github import GitHubRefused, connect
from tests.ops.ci import reports
from tests.support.github import GitHubStandIn
from tests.support.invoke import run_invoke

PR = 7


@pytest.fixture
def pull(github: GitHubStandIn) -> int:
    """Pull request #7 of the stand-in's repository (issues 1-6 are other conversations)."""
    for number in range(1, PR):
        github.add(f"issue {number}", "", [])
    return github.add("Orders: reject a zero quantity", "", [], pull_request=True).number


def event(tmp_path: Path, head_repository: str | None = "acme/trading") -> Path:
    """A pull_request event file as GitHub Actions writes it (the parts the task reads)."""
    head: dict[str, object] = {"sha": "b" * 40}
    if head_repository is not None:
        head["repo"] = {"full_name": head_repository} if head_repository else None
    path = tmp_path / "event.json"
    pull_request = {"number": PR, "base": {"sha": "a" * 40}, "head": head}
    path.write_text(json.dumps({"action": "synchronize", "pull_request": pull_request}))
    return path


def run(github: GitHubStandIn, tmp_path: Path, **env: str) -> dict[str, object]:
    """``ci.feedback`` in process on the event; the JSON result."""
    directory = tmp_path / "reports"
    reports.junit(directory, "tests-3.11", 3)
    request = Request(directory, tmp_path, jobs=("tests=success",))
    variables = {**github.env(), "GITHUB_EVENT_PATH": str(event(tmp_path)), **env}
    result = tmp_path / "result.json"
    feedback(request, variables, Console(report=result, env=variables))
    data: dict[str, object] = json.loads(result.read_text())
    return data


def test_the_first_run_posts_and_the_next_edits_the_same_comment(
    tmp_path: Path, github: GitHubStandIn, pull: int
) -> None:
    first = run(github, tmp_path)
    [comment] = github.issues[pull].thread
    assert (first["action"], first["comment_id"]) == ("created", comment.id)
    assert comment.body.startswith(MARKER)
    assert "3 passed" in comment.body
    reports.junit(tmp_path / "reports", "tests-3.12", 4, {"test_cancel": "assert 3 == 2"})
    second = run(github, tmp_path)
    assert (second["action"], second["comment_id"]) == ("updated", comment.id)
    assert len(github.issues[pull].thread) == 1, "exactly one comment"
    assert "test_cancel" in github.issues[pull].thread[0].body, "the new body replaced the old"
    assert [(r.method, r.path) for r in github.writes()] == [
        ("POST", f"/repos/acme/trading/issues/{pull}/comments"),
        ("PATCH", f"/repos/acme/trading/issues/comments/{comment.id}"),
    ]


def test_the_marker_comment_is_found_on_a_later_page(
    tmp_path: Path, github: GitHubStandIn, pull: int
) -> None:
    github.comment(pull, "LGTM", user="ana")
    github.comment(pull, f"quoting it: {MARKER} is not the start", user="ana")
    ours = github.comment(pull, f"{MARKER}\nan older run's feedback")
    github.comment(pull, "thanks", user="ana")
    github.page_limit = 2
    assert run(github, tmp_path)["comment_id"] == ours.id
    pages = [r.query.get("page", "1") for r in github.requests if r.method == "GET"]
    assert pages == ["1", "2"]
    assert [c.body for c in github.issues[pull].thread][:2] == [
        "LGTM",
        f"quoting it: {MARKER} is not the start",
    ], "other comments untouched"
    assert "3 passed" in github.issues[pull].thread[2].body


def test_a_run_posting_at_the_same_time_leaves_one_comment(
    tmp_path: Path, github: GitHubStandIn, pull: int
) -> None:
    def another_run_posts_first() -> None:
        github.comment(pull, f"{MARKER}\nthe other run's feedback")

    github.before_comment = another_run_posts_first
    result = run(github, tmp_path)
    [kept] = github.issues[pull].thread
    assert (result["action"], result["comment_id"]) == ("updated", kept.id)
    assert "3 passed" in kept.body, "the kept comment carries this run's feedback"
    methods = [r.method for r in github.writes()]
    assert methods == ["POST", "DELETE", "PATCH"]


def test_duplicates_left_behind_are_tidied(github: GitHubStandIn, pull: int) -> None:
    older = github.comment(pull, f"{MARKER}\none")
    github.comment(pull, f"{MARKER}\ntwo")
    with connect(github.token, github.url, timeout=5) as api:
        published = publish(PullRequestComments(api, "acme/trading", pull), f"{MARKER}\nnew")
    assert (published.action, published.id) == ("updated", older.id)
    assert [c.body for c in github.issues[pull].thread] == [f"{MARKER}\nnew"]


def test_a_fork_or_a_dry_run_posts_nothing_and_says_why(
    tmp_path: Path, github: GitHubStandIn, pull: int
) -> None:
    directory = tmp_path / "reports"
    summary = tmp_path / "summary.md"
    for head_repository, why in (("someone/trading", "pull request from a fork (someone/"
                                  "trading): its workflow token is read-only"),
                                 ("", "pull request from a fork (deleted)")):  # fmt: skip
        env = {**github.env(), "GITHUB_EVENT_PATH": str(event(tmp_path, head_repository)),
               "GITHUB_STEP_SUMMARY": str(summary)}  # fmt: skip
        result = tmp_path / "result.json"
        feedback(Request(directory, tmp_path), env, Console(report=result, env=env))
        data = json.loads(result.read_text())
        assert data["posted"] is False
        assert data["reason"].startswith(why)
    assert github.requests == [], "nothing asked of GitHub"
    assert summary.read_text().count(MARKER) == 2, "the feedback is in the job summary"
    env = {**github.env(), "GITHUB_EVENT_PATH": str(event(tmp_path))}
    feedback(Request(directory, tmp_path, dry_run=True), env, Console(env=env))
    assert github.requests == []


def test_what_cannot_run_says_so_in_one_line(tmp_path: Path, github: GitHubStandIn) -> None:
    directory = tmp_path / "reports"
    env = {**github.env(), "GITHUB_EVENT_PATH": str(event(tmp_path))}
    cases = [
        ({**env, "GITHUB_TOKEN": ""}, "GITHUB_TOKEN is not set (the workflow passes github.token)"),
        ({**env, "GITHUB_REPOSITORY": "trading"}, "GITHUB_REPOSITORY must be owner/name"),
        ({**github.env()}, "no pull request: --pr N, or GITHUB_EVENT_PATH of a pull_request"),
    ]
    for variables, line in cases:
        with pytest.raises(CannotRun, match=f"^{re.escape(line)}"):
            feedback(Request(directory, tmp_path), variables, Console(env=variables))
    with pytest.raises(GitHubRefused, match=r"^GitHub answered 404 to GET /repos/acme/trading/"):
        feedback(Request(directory, tmp_path), env, Console(env=env))  # no pull request 7
    (tmp_path / "event.json").write_text("{not json")
    with pytest.raises(CannotRun, match=r"^GITHUB_EVENT_PATH \(.*\) is not a JSON event"):
        read_event(env)


def test_the_task_exits_2_on_bad_credentials_in_one_line_without_the_token(
    tmp_path: Path, github: GitHubStandIn, pull: int
) -> None:
    wrong = "wrong-feedback-token"
    env = {**github.env(), "GITHUB_TOKEN": wrong, "GITHUB_EVENT_PATH": str(event(tmp_path))}
    ran = run_invoke("ci.feedback", "--reports", str(tmp_path / "reports"), env=env)
    assert ran.returncode == CANNOT_RUN, ran.stderr
    assert ran.stderr.strip().splitlines()[-1] == (
        f"error: GitHub answered 401 to GET /repos/acme/trading/issues/{pull}/comments: "
        "Bad credentials"
    )
    assert wrong not in ran.stdout + ran.stderr
    assert github.issues[pull].thread == []


def test_the_task_posts_and_prints_where_without_the_token(
    tmp_path: Path, github: GitHubStandIn, pull: int
) -> None:
    env = {**github.env(), "GITHUB_EVENT_PATH": str(event(tmp_path))}
    args = ("ci.feedback", "--reports", str(tmp_path / "reports"), "--job", "tests=failure")
    ran = run_invoke(*args, env=env)
    assert ran.returncode == DONE, ran.stderr
    [comment] = github.issues[pull].thread
    assert ran.stdout.strip() == (
        f"pull request #{pull}: feedback comment {comment.id} created: "
        f"{github.url}/issues/{pull}#issuecomment-{comment.id}"
    )
    assert "tests ❌ failure" in comment.body, "a failed job is feedback, not a failed task"
    dry = run_invoke(*args, "--dry-run", env=env)
    assert dry.returncode == DONE
    assert dry.stdout.startswith(MARKER)
    assert github.token not in ran.stdout + ran.stderr + dry.stdout + dry.stderr


def test_deleting_a_comment_already_gone_is_fine_but_a_refusal_is_not(
    github: GitHubStandIn, pull: int
) -> None:
    with connect(github.token, github.url, timeout=5) as api:
        comments = PullRequestComments(api, "acme/trading", pull)
        comments.delete(999)  # another run removed it first
        github.refuse = lambda request: 403 if request.method == "DELETE" else None
        with pytest.raises(GitHubRefused, match=r"^GitHub answered 403 to DELETE .*/comments/1:"):
            comments.delete(github.comment(pull, "x").id)
