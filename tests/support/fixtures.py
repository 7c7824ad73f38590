"""Fixtures shared by several test directories, registered once (``tests/conftest.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ops.core.exits import OpsError
from tests.support import needs, s3
from tests.support.github import GitHubStandIn
from tests.support.webhook import Webhook
from tests.support.workspace import Workspace


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    """A local HTTP server standing in for Slack, recording what is posted to it."""
    hook = Webhook()
    try:
        yield hook
    finally:
        hook.close()


@pytest.fixture
def github() -> Iterator[GitHubStandIn]:
    """GitHub's issue and issue-comment endpoints (the monitor's, the PR feedback's) on
    loopback."""
    with GitHubStandIn() as stand_in:
        yield stand_in


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[s3.S3Server]:
    """SeaweedFS for this test session, with the test bucket created."""
    try:
        s3.weed_binary()
    except OpsError as error:
        needs.missing(str(error))
    server = s3.start(tmp_path_factory.mktemp("seaweedfs"))
    try:
        server.create_bucket(s3.BUCKET)
        yield server
    finally:
        server.stop()


@pytest.fixture
def workspace(tmp_path: Path, s3_server: s3.S3Server) -> Workspace:
    """Environment definitions, storage and state under this test's directory."""
    return Workspace(tmp_path / "ws", s3_server)
