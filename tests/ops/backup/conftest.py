"""Fixtures for the backup tests: the SeaweedFS server, workspaces, a seeded SQLite database."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.ops.backup.helpers import Workspace
from tests.s3server import S3Server, s3_server  # noqa: F401 - the fixture, re-exported


@pytest.fixture
def workspace(tmp_path: Path, s3_server: S3Server) -> Workspace:  # noqa: F811 - the fixture
    """Environment definitions, storage and state under this test's directory."""
    return Workspace(tmp_path / "ws", s3_server)


@pytest.fixture
def seeded(workspace: Workspace, database_url: str) -> Workspace:
    """``workspace`` with environment ``demo`` (local storage) on a seeded SQLite database."""
    workspace.define("demo")
    target = workspace.sqlite_path("demo")
    target.parent.mkdir(parents=True)
    shutil.copy(database_url.split("///", 1)[1], target)
    return workspace
