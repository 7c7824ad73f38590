"""One comment per pull request, updated in place.

The comment is the one whose body starts with :data:`~ops.ci.feedback.MARKER` (a hidden
HTML comment; a person quoting it further down does not count). :func:`publish` lists
the pull request's comments (every page), edits the oldest marked one if there is one,
else posts one -- then lists again: when another run posted at the same time, the oldest
marked comment is kept and given this run's body, and this run deletes its own (an edit
deletes any newer marked ones too), so racing runs converge on the same single comment.
Requests go through :mod:`ops.core.github` (one line on a refusal, the token only in the
header).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ops.ci.feedback import MARKER
from ops.core.github import GitHubApi, GitHubRefused

Comment = dict[str, Any]
NOT_FOUND = 404


@dataclass(frozen=True, slots=True)
class Published:
    """What :func:`publish` did: ``created`` or ``updated``, and the comment."""

    action: str
    id: int
    url: str

    def describe(self, number: int) -> str:
        """One line for the task's output."""
        return f"pull request #{number}: feedback comment {self.id} {self.action}: {self.url}"


class PullRequestComments:
    """The REST calls on one pull request's conversation (its issue comments)."""

    def __init__(self, api: GitHubApi, repository: str, number: int) -> None:
        self.api = api
        self.repository = repository
        self.number = number

    def marked(self) -> list[Comment]:
        """Every comment whose body starts with the marker, oldest first."""
        path = f"/repos/{self.repository}/issues/{self.number}/comments"
        found = [
            comment
            for page in self.api.pages(path)
            for comment in page
            if str(comment.get("body") or "").lstrip().startswith(MARKER)
        ]
        return sorted(found, key=lambda comment: int(comment["id"]))

    def create(self, body: str) -> Comment:
        """A new comment."""
        path = f"/repos/{self.repository}/issues/{self.number}/comments"
        created: Comment = self.api.call("POST", path, json={"body": body}).json()
        return created

    def update(self, comment_id: int, body: str) -> Comment:
        """A comment's body replaced."""
        path = f"/repos/{self.repository}/issues/comments/{comment_id}"
        updated: Comment = self.api.call("PATCH", path, json={"body": body}).json()
        return updated

    def delete(self, comment_id: int) -> None:
        """A comment removed (one already gone is fine)."""
        path = f"/repos/{self.repository}/issues/comments/{comment_id}"
        try:
            self.api.call("DELETE", path)
        except GitHubRefused as refusal:
            if refusal.status != NOT_FOUND:
                raise


def publish(comments: PullRequestComments, body: str) -> Published:
    """Edit the feedback comment, or post it when there is none; never leave two."""
    existing = comments.marked()
    if existing:
        keeper, *duplicates = existing
        for duplicate in duplicates:  # left by a run that stopped between posting and tidying
            comments.delete(int(duplicate["id"]))
        return _updated(comments, keeper, body)
    posted = comments.create(body)
    # listed again: another run may have posted its own in the meantime
    keeper = next(iter(comments.marked()), posted)
    if int(keeper["id"]) == int(posted["id"]):
        return Published("created", int(posted["id"]), str(posted.get("html_url", "")))
    comments.delete(int(posted["id"]))
    return _updated(comments, keeper, body)


def _updated(comments: PullRequestComments, comment: Comment, body: str) -> Published:
    updated = comments.update(int(comment["id"]), body)
    return Published("updated", int(updated["id"]), str(updated.get("html_url", "")))
