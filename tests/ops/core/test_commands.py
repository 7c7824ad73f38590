"""Running external programs: a missing tool, a time-out and a failure each say what happened."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ops.core import commands
from ops.core.exits import CANNOT_RUN, CHECK_FAILED


def test_output_is_captured_as_text_and_bytes() -> None:
    done = commands.run([sys.executable, "-c", "import sys; sys.stdout.buffer.write(b'ok\\xff')"])
    assert done.ok
    assert done.stdout == "ok\ufffd"
    assert done.raw_stdout == b"ok\xff"


def test_input_and_environment_are_passed(tmp_path: Path) -> None:
    script = "import os, sys; print(sys.stdin.read() + os.environ['ONLY'])"
    done = commands.run(
        [sys.executable, "-c", script], stdin="in-", env={"ONLY": "x"}, cwd=tmp_path
    )
    assert done.stdout.strip() == "in-x"


def test_a_failure_names_the_program_and_its_reason(tmp_path: Path) -> None:
    tool = tmp_path / "tool"
    tool.write_text("#!/bin/sh\necho working\necho 'tool: error: disk full' >&2\nexit 4\n")
    tool.chmod(0o755)
    with pytest.raises(commands.CommandFailed) as failed:
        commands.check([str(tool), "--all", "--verbose", "more"])
    assert str(failed.value) == "tool --all --verbose failed (exit 4): disk full"
    assert failed.value.exit_code == CHECK_FAILED


def test_accepted_statuses_are_not_failures() -> None:
    assert commands.check([sys.executable, "-c", "raise SystemExit(1)"], ok=(0, 1)).code == 1


def test_a_missing_program_cannot_run() -> None:
    with pytest.raises(commands.ToolNotFound, match=r"^no-such-tool-xyz: command not found$") as e:
        commands.run(["no-such-tool-xyz"])
    assert e.value.exit_code == CANNOT_RUN


def test_a_hung_program_is_killed_and_named() -> None:
    with pytest.raises(commands.CommandTimedOut, match=r"did not finish within 0\.5s"):
        commands.run([sys.executable, "-c", "import time; time.sleep(30)"], timeout=0.5)


@pytest.mark.parametrize(
    ("outputs", "expected"),
    [
        (("",), "no output"),
        (("a\nb\n",), "b"),
        (("pg_restore: error: could not connect\npg_restore: warning: errors ignored: 1",),
         "could not connect"),
        (("Traceback (most recent call last):\n  File x\nValueError: bad value",),
         "ValueError: bad value"),
        (("", "from stdout"), "from stdout"),
        (("\x1b[31mred\x1b[0m",), "red"),
    ],
)  # fmt: skip
def test_the_failure_line(outputs: tuple[str, ...], expected: str) -> None:
    assert commands.failure_line(*outputs, program="pg_restore") == expected


def test_executables_are_found_beside_python_on_path_or_by_variable(tmp_path: Path) -> None:
    assert commands.find_executable("python", hint="x") == str(
        Path(sys.executable).parent / "python"
    )
    tool = tmp_path / "tool"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    assert commands.find_executable("tool", hint="x", env={"PATH": str(tmp_path)}) == str(tool)
    found = commands.find_executable("anything", hint="x", env={"T": str(tool)}, variable="T")
    assert found == str(tool)
    bare = {"T": "tool", "PATH": str(tmp_path)}  # a bare name is looked up on PATH
    assert commands.find_executable("anything", hint="x", env=bare, variable="T") == str(tool)
    with pytest.raises(commands.ToolNotFound, match=r"\$T names .*missing, which does not exist"):
        commands.find_executable(
            "anything", hint="x", env={"T": str(tmp_path / "missing")}, variable="T"
        )
    with pytest.raises(commands.ToolNotFound, match=r"^nothing-here not found: pip install it$"):
        commands.find_executable("nothing-here", hint="pip install it", env={"PATH": str(tmp_path)})
