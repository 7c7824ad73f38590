"""Fixtures of the security gates' tests: the planted-problem tree, tools, report directories."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from ops.security import gate

FIXTURES = Path(__file__).parent / "fixtures"


def require_tool(name: str) -> str:
    """The scanner's path; skipped when it is not installed, an error under CI=true."""
    try:
        return gate.find_tool(name)
    except gate.GateError as error:
        if os.environ.get("CI") == "true":
            pytest.fail(str(error))
        pytest.skip(str(error))


@pytest.fixture
def vulnerable_tree(tmp_path: Path) -> Path:
    """A copy of fixtures/vulnerable outside the repository: one planted problem per gate."""
    tree = tmp_path / "vulnerable"
    shutil.copytree(FIXTURES / "vulnerable", tree)
    return tree


@pytest.fixture
def reports(tmp_path: Path) -> Path:
    """A reports directory of the test's own."""
    path = tmp_path / "reports"
    path.mkdir()
    return path
