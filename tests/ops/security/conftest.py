"""Fixtures of the security gates' tests: the planted-problem tree, tools, report directories."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest

from ops.core import environ
from ops.core.exits import CHECK_FAILED
from ops.security import scanner
from tests.support import needs

FIXTURES = Path(__file__).parent / "fixtures"
Main = Callable[[Sequence[str]], int]


def require_tool(name: str) -> str:
    """The scanner's path; skipped when it is not installed, an error under CI."""
    return needs.program(name, scanner.HINT)


def options(**values: Any) -> scanner.Options:
    """Gate options for a test, in this process's environment."""
    return scanner.Options(env=environ.current(), **values)


@dataclass(frozen=True, slots=True)
class Ran:
    """How a gate's ``main`` exited and what it printed."""

    code: int
    out: str
    err: str


class RunGate(Protocol):
    """The ``run_gate`` fixture."""

    def __call__(self, main: Main, *args: str) -> Ran:
        """Run ``main([*args, "--reports", REPORTS])``."""


def failing(run_gate: RunGate, tool: str, main: Main, *args: str) -> str:
    """What a gate that needs ``tool`` printed when it failed (exit 1) on planted problems."""
    require_tool(tool)
    ran = run_gate(main, *args)
    assert ran.code == CHECK_FAILED, ran.out + ran.err
    return ran.err


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


@pytest.fixture
def run_gate(reports: Path, capsys: pytest.CaptureFixture[str]) -> RunGate:
    """Runs a gate's ``main`` with ``ARGS --reports <the test's reports>``."""

    def run(main: Main, *args: str) -> Ran:
        code = main([*args, "--reports", str(reports)])
        captured = capsys.readouterr()
        return Ran(code, captured.out, captured.err)

    return run
