"""The exit-code convention and the one way of reading the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from ops.core import exits
from ops.core.environ import child_env, flag, in_ci, read_dotenv


def test_each_kind_of_failure_has_its_code() -> None:
    assert (exits.DONE, exits.CHECK_FAILED, exits.CANNOT_RUN, exits.INCONCLUSIVE) == (0, 1, 2, 3)
    assert exits.exit_code_of(exits.CheckFailed("x")) == 1
    assert exits.exit_code_of(exits.CannotRun("x")) == 2
    assert exits.exit_code_of(exits.Inconclusive("x")) == 3
    assert exits.exit_code_of(ValueError("surprise")) == 2


def test_one_line_is_the_first_line_or_the_type() -> None:
    assert exits.one_line(RuntimeError("\n  first\nsecond")) == "first"
    assert exits.one_line(RuntimeError()) == "RuntimeError"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", True), ("true", True), ("YES", True), ("on", True), ("0", False), ("", False)],
)
def test_ci_is_recognised_the_same_everywhere(value: str, expected: bool) -> None:
    assert in_ci({"CI": value}) is expected
    assert flag({"X": value}, "X") is expected


def test_children_get_path_coverage_and_what_they_are_given_only() -> None:
    parent = {"PATH": "/bin", "COVERAGE_FILE": "/c", "SECRET_TOKEN": "s", "HOME": "/root"}
    child = child_env(parent, {"APP": "1"})
    assert child == {"PATH": "/bin", "COVERAGE_FILE": "/c", "APP": "1"}
    assert child_env(parent, keep=("HOME",))["HOME"] == "/root"
    assert child_env({})["PATH"], "a child always has a PATH"


def test_dotenv_files_are_read_with_the_apps_parser(tmp_path: Path) -> None:
    path = tmp_path / ".env.x"
    path.write_text('# comment\nA=1\nB="two words"\nexport C=3\nEMPTY=\n')
    assert read_dotenv(path) == {"A": "1", "B": "two words", "C": "3", "EMPTY": ""}
    assert read_dotenv(tmp_path / "missing") == {}


def test_a_malformed_dotenv_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / ".env.x"
    path.write_text("GOOD=1\nthis is not an assignment\n")
    with pytest.raises(exits.CannotRun, match=r"^\.env\.x:2: expected KEY=value$"):
        read_dotenv(path)
