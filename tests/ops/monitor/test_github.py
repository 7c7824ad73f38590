"""The GitHub notifier against a local stand-in for the REST API: one issue per problem,
found again by label and marker (never by title), commented, closed, reopened rather
than duplicated, duplicates of concurrent runs closed; failures in one line."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from ops.core.github import GitHubUnavailable, rate_limited
from ops.monitor.alerts import Alert, AlertKind
from ops.monitor.context import MonitorContext
from ops.monitor.notifiers import Delivery, deliver_all
from ops.monitor.notifiers.github import GitHubNotifier, marker
from ops.monitor.results import Status
from ops.monitor.settings import GitHub
from tests.ops.monitor.delivery import NAME, Silent, context
from tests.support.github import GitHubStandIn, Request

KEY = "availability//ready"
MARK = marker(NAME, KEY)


def alert(kind: AlertKind, key: str = KEY, status: Status = Status.CRITICAL) -> Alert:
    return Alert(
        kind,
        key,
        status,
        "status",
        "answered 503 (redis failed)",
        "2026-03-15T12:00:00+00:00",
        "1.4.0",
    )


def deliver(probe: MonitorContext, *alerts: Alert) -> str:
    return GitHubNotifier(probe).deliver(alerts, probe)


def writes(github: GitHubStandIn) -> list[tuple[str, str, object]]:
    return [(r.method, r.path.rsplit("/issues", 1)[1], r.body) for r in github.writes()]


def test_a_new_problem_opens_one_issue_with_label_and_marker(
    tmp_path: Path, github: GitHubStandIn
) -> None:
    probe = context(tmp_path, github.env())
    assert deliver(probe, alert(AlertKind.NEW)) == f"#1 created ({KEY})"
    [issue] = github.issues.values()
    assert (issue.state, issue.labels) == ("open", ["monitor"])
    assert issue.title == f"monitor {NAME}: {KEY} (status)"
    assert MARK in issue.body
    assert "critical `availability//ready` (status): answered 503 (redis failed)" in issue.body
    listing = github.requests[0]
    assert (listing.method, listing.query["labels"], listing.query["state"]) == (
        "GET",
        "monitor",
        "all",
    )
    assert [r.method for r in github.requests] == ["GET", "POST", "GET"], "listed again after"


def test_recurrence_reminder_recovery_and_reopening_use_the_same_issue(
    tmp_path: Path, github: GitHubStandIn
) -> None:
    probe = context(tmp_path, github.env())
    deliver(probe, alert(AlertKind.NEW))
    assert deliver(probe, alert(AlertKind.REMINDER)) == f"#1 commented ({KEY})"
    assert deliver(probe, alert(AlertKind.RECOVERED)) == f"#1 closed ({KEY})"
    assert (github.issues[1].state, github.issues[1].state_reason) == ("closed", "completed")
    assert deliver(probe, alert(AlertKind.RECOVERED)) == f"#1 already closed ({KEY})"
    assert deliver(probe, alert(AlertKind.NEW)) == f"#1 reopened ({KEY})"
    assert deliver(probe, alert(AlertKind.WORSE)) == f"#1 commented ({KEY})"
    assert list(github.issues) == [1], "never a second issue"
    assert github.issues[1].state == "open"
    assert [comment.split(":", 1)[0] for comment in github.issues[1].comments] == [
        "**reminder**",
        "**recovered**",
        "**new**",
        "**worse**",
    ]
    assert writes(github)[-3:-1] == [
        ("PATCH", "/1", {"state": "open", "state_reason": "reopened"}),
        ("POST", "/1/comments", {"body": github.issues[1].comments[2]}),
    ]


def test_issues_are_found_by_marker_never_by_title(tmp_path: Path, github: GitHubStandIn) -> None:
    title = f"monitor {NAME}: {KEY} (status)"
    github.add(title, "a person's issue with the monitor's title", ["monitor"])
    github.add(title, marker("production", KEY), ["monitor"])  # another environment's
    github.add("renamed by a person", f"notes\n{MARK}\n", ["monitor"], state="closed")
    github.add(title, MARK, ["bug"])  # not the monitor's label
    probe = context(tmp_path, github.env())
    assert deliver(probe, alert(AlertKind.REMINDER)) == f"#3 reopened ({KEY})"
    assert [issue.state for issue in github.issues.values()] == ["open", "open", "open", "open"]
    assert len(github.issues) == 4


def test_every_page_is_searched(tmp_path: Path, github: GitHubStandIn) -> None:
    github.add("ours, the oldest", MARK, ["monitor"])
    for number in range(5):
        github.add(f"another problem {number}", marker(NAME, f"tls/cert{number}"), ["monitor"])
    github.page_limit = 2
    probe = context(tmp_path, github.env())
    assert deliver(probe, alert(AlertKind.RECOVERED)) == f"#1 closed ({KEY})"
    pages = [r.query.get("page", "1") for r in github.requests if r.method == "GET"]
    assert pages == ["1", "2", "3"]


def test_concurrent_runs_keep_the_oldest_issue_and_close_the_others(
    tmp_path: Path, github: GitHubStandIn
) -> None:
    def another_run_creates_it_first() -> None:
        github.add("created by the other run", MARK, ["monitor"])

    github.before_create = another_run_creates_it_first
    probe = context(tmp_path, github.env())
    result = deliver(probe, alert(AlertKind.NEW))
    assert result == f"#1 kept, created at the same time by another run ({KEY})"
    assert (github.issues[1].state, github.issues[2].state) == ("open", "closed")
    assert github.issues[2].comments == ["Duplicate of #1."]
    assert github.issues[2].state_reason == "not_planned"
    assert deliver(probe, alert(AlertKind.REMINDER)) == f"#1 commented ({KEY})"
    assert len(github.issues) == 2


def test_the_token_the_repository_and_the_api_come_from_the_variables(
    tmp_path: Path, github: GitHubStandIn
) -> None:
    env = github.env()
    assert GitHubNotifier(context(tmp_path, {})).missing() == "GITHUB_REPOSITORY"
    no_token = {**env, "GITHUB_TOKEN": ""}
    assert GitHubNotifier(context(tmp_path, no_token)).missing() == "GITHUB_TOKEN"
    odd = {**env, "GITHUB_REPOSITORY": "trading"}
    assert GitHubNotifier(context(tmp_path, odd)).missing() == (
        "GITHUB_REPOSITORY as owner/name (it is 'trading')"
    )
    renamed = {
        "ISSUES_REPO": github.repository,
        "ISSUES_TOKEN": github.token,
        "ISSUES_API": github.url,
    }
    probe = context(
        tmp_path,
        renamed,
        github={
            "repository_env": "ISSUES_REPO",
            "token_env": "ISSUES_TOKEN",
            "api_url_env": "ISSUES_API",
            "label": "ops",
        },
    )
    assert GitHubNotifier(probe).missing() is None
    deliver(probe, alert(AlertKind.NEW))
    assert github.issues[1].labels == ["ops"]


@pytest.mark.parametrize(
    ("change", "line"),
    [
        (
            {"GITHUB_TOKEN": "wrong"},
            "GitHub answered 401 to GET /repos/acme/trading/issues: Bad credentials",
        ),
        (
            {"GITHUB_REPOSITORY": "acme/other"},
            "GitHub answered 404 to GET /repos/acme/other/issues: Not Found",
        ),
    ],
)
def test_refusals_fail_at_once_with_the_status(
    tmp_path: Path, github: GitHubStandIn, change: dict[str, str], line: str
) -> None:
    probe = context(tmp_path, {**github.env(), **change})
    [delivery] = deliver_all({"github": [alert(AlertKind.NEW)]}, probe, dry_run=False)
    assert (delivery.sent, delivery.detail) == (False, line)
    assert len(github.requests) == 1, "a refusal is not tried again"
    assert "wrong" not in delivery.detail, "the token is never shown"


def test_server_errors_and_rate_limits_are_tried_again_without_repeating(
    tmp_path: Path, github: GitHubStandIn
) -> None:
    github.add("existing", marker(NAME, "tls/leaf"), ["monitor"])
    probe = context(tmp_path, github.env())
    first = alert(AlertKind.REMINDER, "tls/leaf")
    second = alert(AlertKind.NEW)
    answered: list[Request] = []

    def fail_the_second_alerts_listing(request: Request) -> int | None:
        answered.append(request)
        return 502 if len(answered) in (3, 4) else None  # GET, POST comment, then GET: 502 x2

    github.refuse = fail_the_second_alerts_listing
    [delivery] = deliver_all({"github": [first, second]}, probe, dry_run=False)
    assert (delivery.sent, delivery.detail) == (
        True,
        f"#1 commented (tls/leaf); #2 created ({KEY})",
    )
    assert github.issues[1].comments == [github.issues[1].comments[0]], "commented once"
    github.fail = [429, 429, 429]
    [limited] = deliver_all({"github": [alert(AlertKind.REMINDER)]}, probe, dry_run=False)
    assert limited == Delivery(
        "github",
        False,
        "GitHub answered 429 to GET /repos/acme/trading/issues: stand-in answers 429",
    )


def test_an_issue_created_without_its_label_is_reported(
    tmp_path: Path, github: GitHubStandIn
) -> None:
    github.drop_labels = True
    probe = context(tmp_path, github.env())
    [delivery] = deliver_all({"github": [alert(AlertKind.NEW)]}, probe, dry_run=False)
    assert delivery.detail == (
        "GitHub created #1 without the label 'monitor' (the token may not set labels: it "
        "needs issues: write)"
    )
    assert len(github.issues) == 1, "not tried again: it would only open another"


def test_rate_limits_are_told_from_refusals() -> None:
    limited = httpx.Response(403, headers={"retry-after": "60"})
    spent = httpx.Response(403, headers={"x-ratelimit-remaining": "0"})
    forbidden = httpx.Response(403, json={"message": "Resource not accessible by integration"})
    assert [rate_limited(r) for r in (limited, spent, forbidden)] == [True, True, False]


def test_no_answer_in_time_is_one_line(tmp_path: Path, github: GitHubStandIn) -> None:
    with Silent() as silent:
        env = {**github.env(), "GITHUB_API_URL": silent.url.split("/services")[0]}
        probe = context(tmp_path, env, monitor={"request_timeout_seconds": 0.2})
        expected = r"^GitHub GET /repos/acme/trading/issues: no answer in time$"
        with pytest.raises(GitHubUnavailable, match=expected):
            deliver(probe, alert(AlertKind.NEW))


def test_an_unreachable_api_and_a_recovery_without_an_issue(
    tmp_path: Path, github: GitHubStandIn
) -> None:
    probe = context(tmp_path, github.env())
    assert deliver(probe, alert(AlertKind.RECOVERED)) == f"no issue to close ({KEY})"
    assert github.writes() == []
    with Silent() as closed:
        port = closed.url.split("/services")[0]
    unreachable = context(tmp_path, {**github.env(), "GITHUB_API_URL": port})
    [delivery] = deliver_all({"github": [alert(AlertKind.NEW)]}, unreachable, dry_run=False)
    assert delivery.detail == "GitHub GET /repos/acme/trading/issues unreachable: ConnectError"


def test_a_preview_asks_nothing_of_github(tmp_path: Path, github: GitHubStandIn) -> None:
    probe = context(tmp_path, github.env())
    [delivery] = deliver_all(
        {"github": [alert(AlertKind.NEW), alert(AlertKind.RECOVERED, "tls/leaf")]},
        probe,
        dry_run=True,
    )
    assert delivery.detail == (
        "dry run: acme/trading issues labelled monitor: availability//ready: comment (create"
        " or reopen the issue if needed), tls/leaf: comment and close"
    )
    assert github.requests == []


def test_a_label_with_a_comma_could_not_be_searched_for() -> None:
    with pytest.raises(ValueError, match="String should match pattern"):
        GitHub(label="monitor,ops")
