"""GitHub's REST API, the one way the pipelines talk to it (the monitor's issues, the pull
request feedback comment).

:func:`connect` opens a client on ``GITHUB_API_URL`` (default https://api.github.com) that
sends the token only in the ``Authorization`` header; :meth:`GitHubApi.call` makes one
request and says in one line what went wrong; :meth:`GitHubApi.pages` follows the
``Link: rel="next"`` headers of a listing. A time-out, a rate limit or a 5xx is
:class:`GitHubUnavailable` (it may pass: a caller may try again); any other refusal
(401, 403, 404, 422) is :class:`GitHubRefused` (trying again would not help).
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx

from ops.core.exits import CannotRun

API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
PER_PAGE = 100
MAX_PAGES = 50  # 5000 items: beyond that something else is wrong
REPOSITORY = re.compile(r"^[\w.-]+/[\w.-]+$")
TOKEN_ENV = "GITHUB_TOKEN"  # noqa: S105 - a variable name
REPOSITORY_ENV = "GITHUB_REPOSITORY"
API_URL_ENV = "GITHUB_API_URL"

Json = Any


class GitHubUnavailable(CannotRun):
    """GitHub did not answer, or answered a rate limit or a 5xx."""


class GitHubRefused(CannotRun):
    """GitHub turned the request down for good (credentials, permissions, not found);
    :attr:`status` is its answer's."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def api_url(env: Mapping[str, str], variable: str = API_URL_ENV) -> str:
    """The API's base URL from ``variable`` (GitHub Actions sets it), without a trailing /."""
    return (env.get(variable) or API_URL).rstrip("/")


def message(response: httpx.Response) -> str:
    """GitHub's own reason for an answer, on one line."""
    try:
        said = response.json().get("message", "")
    except (ValueError, AttributeError):
        said = response.text
    return " ".join(str(said).split())[:200]


def rate_limited(response: httpx.Response) -> bool:
    """GitHub's primary (403, none remaining) and secondary (403/429, Retry-After) limits."""
    if response.status_code == 429:
        return True
    headers = response.headers
    spent = headers.get("x-ratelimit-remaining") == "0" or "retry-after" in headers
    return response.status_code == 403 and spent


class GitHubApi:
    """Requests to one API base with one token (see :func:`connect`)."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    def call(self, method: str, url: str, **options: Any) -> httpx.Response:
        """One request; :class:`GitHubUnavailable` or :class:`GitHubRefused` when it failed,
        naming the method, the path (never the query or the token) and GitHub's reason."""
        shown = url.split("?", 1)[0].removeprefix(str(self.http.base_url).rstrip("/"))
        try:
            response = self.http.request(method, url, **options)
        except httpx.TimeoutException:
            raise GitHubUnavailable(f"GitHub {method} {shown}: no answer in time") from None
        except httpx.HTTPError as error:
            raise GitHubUnavailable(
                f"GitHub {method} {shown} unreachable: {type(error).__name__}"
            ) from None
        if response.is_success:
            return response
        text = f"GitHub answered {response.status_code} to {method} {shown}: {message(response)}"
        if rate_limited(response) or response.status_code >= 500:
            raise GitHubUnavailable(text)
        raise GitHubRefused(text, response.status_code)

    def pages(self, path: str, params: Mapping[str, str] | None = None) -> Iterator[list[Json]]:
        """The items of every page of a listing, page by page (at most :data:`MAX_PAGES`)."""
        url: str | None = path
        query: dict[str, str] | None = {"per_page": str(PER_PAGE), **(params or {})}
        for _page in range(MAX_PAGES):
            if url is None:
                return
            response = self.call("GET", url, params=query)
            items = response.json()
            yield items if isinstance(items, list) else []
            # the next page's link carries the query; params, even empty, would replace it
            url, query = response.links.get("next", {}).get("url"), None


@contextmanager
def connect(
    token: str, base_url: str = API_URL, *, timeout: float, verify: ssl.SSLContext | bool = True
) -> Iterator[GitHubApi]:
    """A client of the API at ``base_url`` authenticated by ``token``."""
    headers = {
        "Accept": "application/vnd.github+json",
        "Authorization": f"Bearer {token}",
        "X-GitHub-Api-Version": API_VERSION,
    }
    with httpx.Client(
        base_url=base_url.rstrip("/"), headers=headers, timeout=timeout, verify=verify
    ) as http:
        yield GitHubApi(http)
