"""GitHub issues: one issue per problem, found again by its fingerprint, never by title.

The fingerprint is the label ``[monitor.github] label`` plus a hidden marker in the
body, ``<!-- monitor-fingerprint: <environment>/<check>/<subject> -->``: a title may be
edited by people, the marker is not. For each alert:

- ``new``, ``worse``, ``reminder``: the issue is looked up among every issue with the
  label, open or closed (every page); none -- it is created; closed -- it is reopened
  and commented; open -- it is commented;
- ``recovered``: the open issue is commented and closed.

Two runs at the same time may both create the issue: after creating, the notifier
lists again and, when more than one issue carries the marker, keeps the oldest and
closes the others as its duplicates -- every run picks the same one. Time-outs, rate
limits and 5xx answers are tried again (:func:`~ops.monitor.notifiers.retrying`; the
alerts already handled are not repeated); 401, 403 (but a rate limit), 404 or 422 fail
at once with one line naming the status, and so does an issue GitHub created without
its label (it drops labels a token may not set): it could never be found again. The
requests go through :mod:`ops.core.github`, which puts the token only into the
``Authorization`` header.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from ops.core.github import REPOSITORY, GitHubApi, GitHubRefused, api_url, connect
from ops.monitor.alerts import Alert, AlertKind
from ops.monitor.context import MonitorContext
from ops.monitor.notifiers import Refused
from ops.monitor.settings import Channel

TITLE_LENGTH = 200

Issue = dict[str, Any]


def marker(environment: str, key: str) -> str:
    """The hidden line that identifies a problem's issue."""
    return f"<!-- monitor-fingerprint: {environment}/{key} -->"


@contextmanager
def _refused_for_good() -> Iterator[None]:
    """GitHub's refusals as the notifiers' :class:`Refused`, which is never tried again."""
    try:
        yield
    except GitHubRefused as refusal:
        raise Refused(str(refusal)) from None


class IssuesApi:
    """The few REST calls the notifier makes on one repository (through
    :class:`~ops.core.github.GitHubApi`)."""

    def __init__(self, api: GitHubApi, repository: str, label: str) -> None:
        self.api = api
        self.path = f"/repos/{repository}/issues"
        self.label = label

    def call(self, method: str, url: str, **options: Any) -> Any:
        """One request's JSON; a refusal is :class:`Refused` (never tried again)."""
        with _refused_for_good():
            return self.api.call(method, url, **options).json()

    def find(self, mark: str) -> list[Issue]:
        """Every issue (open or closed) with the label whose body carries ``mark``,
        oldest first."""
        found: list[Issue] = []
        with _refused_for_good():
            for page in self.api.pages(self.path, {"labels": self.label, "state": "all"}):
                found += [
                    issue
                    for issue in page
                    if "pull_request" not in issue and mark in (issue.get("body") or "")
                ]
        return sorted(found, key=lambda issue: int(issue["number"]))

    def create(self, title: str, body: str) -> Issue:
        """A new open issue with the label."""
        created: Issue = self.call("POST", self.path, json={"title": title, "body": body,
                                                            "labels": [self.label]})  # fmt: skip
        return created

    def comment(self, number: int, body: str) -> None:
        """A comment on an issue."""
        self.call("POST", f"{self.path}/{number}/comments", json={"body": body})

    def set_state(self, number: int, state: str, reason: str | None = None) -> None:
        """Open or close an issue (``reason``: completed, not_planned, reopened)."""
        change = {"state": state, **({"state_reason": reason} if reason else {})}
        self.call("PATCH", f"{self.path}/{number}", json=change)


def _describe(alert: Alert) -> str:
    release = f" Release {alert.release}." if alert.release else ""
    return (
        f"**{alert.kind.value}**: {alert.status.value} `{alert.key}` ({alert.reason}): "
        f"{alert.summary}\n\nOpen since {alert.since}.{release}"
    )


class GitHubNotifier:
    """Keeps one issue per problem in the repository ``GITHUB_REPOSITORY`` names."""

    channel: Channel = "github"

    def __init__(self, context: MonitorContext) -> None:
        self.settings = context.settings.github
        self.env: Mapping[str, str] = context.env
        self.environment = context.name
        self.timeout = context.settings.request_timeout_seconds
        self.handled: dict[str, str] = {}  # alert key -> what was done; a retry resumes

    @property
    def repository(self) -> str:
        """``owner/name``."""
        return self.env.get(self.settings.repository_env, "")

    def missing(self) -> str | None:
        """The repository or token variable when not set, or a repository not owner/name."""
        settings = self.settings
        for variable in (settings.repository_env, settings.token_env):
            if not self.env.get(variable):
                return variable
        if not REPOSITORY.match(self.repository):
            return f"{settings.repository_env} as owner/name (it is {self.repository!r})"
        return None

    @contextmanager
    def _api(self, context: MonitorContext) -> Iterator[IssuesApi]:
        base = api_url(self.env, self.settings.api_url_env)
        token = self.env[self.settings.token_env]
        with connect(token, base, timeout=self.timeout, verify=context.tls_context()) as api:
            yield IssuesApi(api, self.repository, self.settings.label)

    def deliver(self, alerts: Sequence[Alert], context: MonitorContext) -> str:
        """Create, comment, reopen or close each alert's issue."""
        with self._api(context) as api:
            for alert in alerts:
                if alert.key not in self.handled:
                    self.handled[alert.key] = self._handle(api, alert)
        return "; ".join(self.handled[alert.key] for alert in alerts)

    def _handle(self, api: IssuesApi, alert: Alert) -> str:
        mark = marker(self.environment, alert.key)
        issues = api.find(mark)
        if alert.kind is AlertKind.RECOVERED:
            return self._close(api, issues, alert)
        if not issues:
            return self._create(api, mark, alert)
        keeper = self._keep_oldest(api, issues)
        if keeper["state"] == "closed":
            api.set_state(keeper["number"], "open", "reopened")
            api.comment(keeper["number"], _describe(alert))
            return f"#{keeper['number']} reopened ({alert.key})"
        api.comment(keeper["number"], _describe(alert))
        return f"#{keeper['number']} commented ({alert.key})"

    def _create(self, api: IssuesApi, mark: str, alert: Alert) -> str:
        title = f"monitor {self.environment}: {alert.key} ({alert.reason})"[:TITLE_LENGTH]
        created = api.create(title, f"{_describe(alert)}\n\n{mark}\n")
        if self.settings.label not in {label["name"] for label in created.get("labels", [])}:
            # without its label the issue cannot be found again: every run would open one
            raise Refused(
                f"GitHub created #{created['number']} without the label {self.settings.label!r}"
                " (the token may not set labels: it needs issues: write)"
            )
        keeper = self._keep_oldest(api, api.find(mark) or [created])
        if keeper["number"] != created["number"]:
            return (
                f"#{keeper['number']} kept, created at the same time by another run ({alert.key})"
            )
        return f"#{created['number']} created ({alert.key})"

    def _close(self, api: IssuesApi, issues: list[Issue], alert: Alert) -> str:
        if not issues:
            return f"no issue to close ({alert.key})"
        keeper = self._keep_oldest(api, issues)
        if keeper["state"] == "closed":
            return f"#{keeper['number']} already closed ({alert.key})"
        api.comment(keeper["number"], _describe(alert))
        api.set_state(keeper["number"], "closed", "completed")
        return f"#{keeper['number']} closed ({alert.key})"

    @staticmethod
    def _keep_oldest(api: IssuesApi, issues: list[Issue]) -> Issue:
        """The oldest issue of a problem; the other open ones closed as its duplicates."""
        keeper, *others = issues
        for duplicate in others:
            if duplicate["state"] == "open":
                api.comment(duplicate["number"], f"Duplicate of #{keeper['number']}.")
                api.set_state(duplicate["number"], "closed", "not_planned")
        return keeper

    def preview(self, alerts: Sequence[Alert], context: MonitorContext) -> str:
        """What each alert would do to its issue (nothing is asked of GitHub)."""
        update = "comment (create or reopen the issue if needed)"
        actions = dict.fromkeys(AlertKind, update) | {AlertKind.RECOVERED: "comment and close"}
        planned = ", ".join(f"{alert.key}: {actions[alert.kind]}" for alert in alerts)
        return f"{self.repository} issues labelled {self.settings.label}: {planned}"
