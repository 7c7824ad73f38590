"""A local HTTP server standing in for GitHub's REST API -- exactly the issue endpoints the
monitor's GitHub notifier and the pull request feedback use -- keeping the issues and
their comments in memory and recording every request.

- ``GET  /repos/{owner}/{repo}/issues?labels=&state=&page=&per_page=`` (newest first, with a
  ``Link: <...>; rel="next"`` header while there are more pages)
- ``POST /repos/{owner}/{repo}/issues``, ``GET`` and ``PATCH /repos/{owner}/{repo}/issues/{n}``
- ``GET  /repos/{owner}/{repo}/issues/{n}/comments?page=&per_page=`` (oldest first, paged
  the same way) and ``POST`` there
- ``PATCH`` and ``DELETE /repos/{owner}/{repo}/issues/comments/{id}``

A pull request is an issue here as on GitHub (``add(..., pull_request=True)``). Like GitHub
it answers 401 without the right token and 404 for another repository; a
test can queue statuses to answer next (``fail``, e.g. ``[502]``) or choose one per
request (``refuse``: a status or None), drop the labels of new issues (``drop_labels``, as GitHub
does silently when the token may not set them), cap the page size
(``page_limit``) and run something just before an issue or a comment is created
(``before_create``, ``before_comment``: another run creating the same one at the same time).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from tests.support.http import Closing, LocalServer

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


BOT = "github-actions[bot]"


@dataclass
class Comment:
    """One comment on an issue or pull request."""

    id: int
    issue: int
    body: str
    user: str = BOT

    def to_json(self, url: str) -> dict[str, Any]:
        """The fields of GitHub's issue comment object."""
        created = EPOCH + timedelta(seconds=self.id)
        return {
            "id": self.id,
            "body": self.body,
            "user": {"login": self.user},
            "created_at": created.isoformat(),
            "html_url": f"{url}/issues/{self.issue}#issuecomment-{self.id}",
        }


@dataclass
class Issue:
    """One issue (or pull request) as the stand-in keeps it."""

    number: int
    title: str
    body: str
    labels: list[str]
    state: str = "open"
    state_reason: str | None = None
    pull_request: bool = False
    thread: list[Comment] = field(default_factory=list)

    @property
    def comments(self) -> list[str]:
        """The comments' bodies, oldest first."""
        return [comment.body for comment in self.thread]

    def to_json(self, url: str) -> dict[str, Any]:
        """The fields of GitHub's issue object the notifier reads (and a few more)."""
        created = EPOCH + timedelta(minutes=self.number)
        data = {
            "number": self.number,
            "title": self.title,
            "body": self.body,
            "state": self.state,
            "state_reason": self.state_reason,
            "labels": [{"name": label} for label in self.labels],
            "comments": len(self.thread),
            "created_at": created.isoformat(),
            "html_url": f"{url}/issues/{self.number}",
        }
        if self.pull_request:
            data["pull_request"] = {"html_url": f"{url}/pull/{self.number}"}
        return data


@dataclass(frozen=True)
class Request:
    """One request received."""

    method: str
    path: str
    query: dict[str, str]
    body: dict[str, Any] | None

    @property
    def is_write(self) -> bool:
        """Anything but a read."""
        return self.method != "GET"


class GitHubStandIn(Closing):
    """The issues of one repository, served on a free port of 127.0.0.1."""

    def __init__(self, repository: str = "acme/trading", token: str = "test-token") -> None:  # noqa: S107 - a test token
        self.repository = repository
        self.token = token
        self.issues: dict[int, Issue] = {}
        self.requests: list[Request] = []
        self.fail: list[int] = []
        self.refuse: Callable[[Request], int | None] | None = None
        self.page_limit = 100
        self.drop_labels = False  # as GitHub does for a token that may not set labels
        self.before_create: Callable[[], None] | None = None
        self.before_comment: Callable[[], None] | None = None
        self._comment_ids = 0
        self._lock = threading.RLock()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                stand_in._handle(self, "GET")

            def do_POST(self) -> None:
                stand_in._handle(self, "POST")

            def do_PATCH(self) -> None:
                stand_in._handle(self, "PATCH")

            def do_DELETE(self) -> None:
                stand_in._handle(self, "DELETE")

            def log_message(self, *_args: object) -> None:
                return

        self.local = LocalServer(Handler)
        self.url = self.local.url

    def env(self) -> dict[str, str]:
        """The variables that point the notifier here."""
        return {
            "GITHUB_API_URL": self.url,
            "GITHUB_REPOSITORY": self.repository,
            "GITHUB_TOKEN": self.token,
        }

    def add(
        self,
        title: str,
        body: str,
        labels: list[str],
        state: str = "open",
        *,
        pull_request: bool = False,
    ) -> Issue:
        """An issue (or pull request) created behind the notifier's back (by a person,
        another run)."""
        with self._lock:
            number = len(self.issues) + 1
            issue = Issue(number, title, body, list(labels), state, pull_request=pull_request)
            self.issues[issue.number] = issue
            return issue

    def comment(self, number: int, body: str, user: str = BOT) -> Comment:
        """A comment on issue ``number`` posted behind the caller's back."""
        with self._lock:
            self._comment_ids += 1
            comment = Comment(self._comment_ids, number, body, user)
            self.issues[number].thread.append(comment)
            return comment

    def find_comment(self, comment_id: int) -> Comment | None:
        """The comment with that id, on whichever issue."""
        threads = (issue.thread for issue in self.issues.values())
        return next((c for thread in threads for c in thread if c.id == comment_id), None)

    def writes(self) -> list[Request]:
        """The requests that changed something, oldest first."""
        return [request for request in self.requests if request.is_write]

    def close(self) -> None:
        """Stop serving."""
        self.local.close()

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = json.loads(handler.rfile.read(length)) if length else None
        request = Request(method, parts.path, dict(parse_qsl(parts.query)), body)
        with self._lock:
            self.requests.append(request)
            failing = self.fail.pop(0) if self.fail else None
            if failing is None and self.refuse is not None:
                failing = self.refuse(request)
        if failing is not None:
            self._answer(handler, failing, {"message": f"stand-in answers {failing}"})
            return
        if handler.headers.get("Authorization") not in (
            f"Bearer {self.token}",
            f"token {self.token}",
        ):
            self._answer(handler, 401, {"message": "Bad credentials"})
            return
        status, answer, headers = self._route(method, parts.path, request.query, body or {})
        self._answer(handler, status, answer, headers)

    def _route(
        self, method: str, path: str, query: dict[str, str], body: dict[str, Any]
    ) -> tuple[int, Any, dict[str, str]]:
        one = re.fullmatch(rf"/repos/{re.escape(self.repository)}/issues/comments/(\d+)", path)
        if one is not None:
            return self._one_comment(method, int(one.group(1)), body)
        match = re.fullmatch(
            rf"/repos/{re.escape(self.repository)}/issues(?:/(\d+))?(/comments)?", path
        )
        if match is None:
            return 404, {"message": "Not Found"}, {}
        number, comments = match.group(1), match.group(2)
        with self._lock:
            if number is None and method == "GET" and not comments:
                return self._list(path, query)
            if number is None and method == "POST" and not comments:
                return self._create(body)
            issue = self.issues.get(int(number)) if number else None
            if issue is None:
                return 404, {"message": "Not Found"}, {}
            if comments and method == "POST":
                return self._post_comment(issue, body)
            if comments and method == "GET":
                return self._page([c.to_json(self.url) for c in issue.thread], path, query)
            if method == "PATCH" and not comments:
                return 200, self._patch(issue, body), {}
            if method == "GET" and not comments:
                return 200, issue.to_json(self.url), {}
        return 404, {"message": "Not Found"}, {}

    def _list(self, path: str, query: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        wanted = {label for label in query.get("labels", "").split(",") if label}
        state = query.get("state", "open")
        chosen = [
            issue
            for issue in sorted(self.issues.values(), key=lambda i: -i.number)
            if wanted <= set(issue.labels) and state in ("all", issue.state)
        ]
        return self._page([issue.to_json(self.url) for issue in chosen], path, query)

    def _page(
        self, items: list[dict[str, Any]], path: str, query: dict[str, str]
    ) -> tuple[int, Any, dict[str, str]]:
        size = min(int(query.get("per_page", 30)), self.page_limit)
        page = int(query.get("page", 1))
        headers = {}
        if page * size < len(items):
            following = urlencode({**query, "page": str(page + 1)})
            headers["Link"] = f'<{self.url}{path}?{following}>; rel="next"'
        return 200, items[(page - 1) * size : page * size], headers

    def _post_comment(self, issue: Issue, body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        if not body.get("body"):
            return 422, {"message": "Validation Failed"}, {}
        if self.before_comment is not None:
            hook, self.before_comment = self.before_comment, None
            hook()
        return 201, self.comment(issue.number, str(body["body"])).to_json(self.url), {}

    def _one_comment(
        self, method: str, comment_id: int, body: dict[str, Any]
    ) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            comment = self.find_comment(comment_id)
            if comment is None:
                return 404, {"message": "Not Found"}, {}
            if method == "PATCH":
                if not body.get("body"):
                    return 422, {"message": "Validation Failed"}, {}
                comment.body = str(body["body"])
                return 200, comment.to_json(self.url), {}
            if method == "DELETE":
                self.issues[comment.issue].thread.remove(comment)
                return 204, None, {}
            if method == "GET":
                return 200, comment.to_json(self.url), {}
        return 404, {"message": "Not Found"}, {}

    def _create(self, body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        if not body.get("title"):
            return 422, {"message": "Validation Failed"}, {}
        if self.before_create is not None:
            hook, self.before_create = self.before_create, None
            hook()
        labels = [] if self.drop_labels else [str(label) for label in body.get("labels", [])]
        issue = self.add(str(body["title"]), str(body.get("body") or ""), labels)
        return 201, issue.to_json(self.url), {}

    def _patch(self, issue: Issue, body: dict[str, Any]) -> dict[str, Any]:
        for name in ("title", "body"):
            if name in body:
                setattr(issue, name, str(body[name]))
        if "state" in body:
            issue.state = str(body["state"])
            issue.state_reason = body.get("state_reason")
        return issue.to_json(self.url)

    @staticmethod
    def _answer(
        handler: BaseHTTPRequestHandler,
        status: int,
        answer: Any,
        headers: dict[str, str] | None = None,
    ) -> None:
        data = b"" if status == 204 else json.dumps(answer).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)
