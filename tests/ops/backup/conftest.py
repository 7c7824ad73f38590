"""Fixtures for the backup tests: a workspace with a seeded SQLite database (the S3 server
and the workspace itself are shared fixtures, tests/support/fixtures.py)."""

from __future__ import annotations

import shutil

import pytest

from tests.support.workspace import Workspace


@pytest.fixture
def seeded(workspace: Workspace, database_url: str) -> Workspace:
    """``workspace`` with environment ``demo`` (local storage) on a seeded SQLite database."""
    workspace.define("demo")
    target = workspace.sqlite_path("demo")
    target.parent.mkdir(parents=True)
    shutil.copy(database_url.split("///", 1)[1], target)
    return workspace
