"""The README's quickstart is what CI runs."""

from __future__ import annotations

import re

from ops.project import ROOT

README = (ROOT / "README.md").read_text()
CI_RUN = (ROOT / ".ci" / "run").read_text()


def quickstart_commands() -> list[str]:
    section = README.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)
    return [
        line
        for block in blocks
        for line in block.splitlines()
        if line.strip() and not line.startswith("#")
    ]


def test_quickstart_is_two_commands() -> None:
    commands = quickstart_commands()
    assert len(commands) == 2
    assert "invoke" in commands[0]
    assert "nox -s tests" in commands[1]


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    block = CI_RUN.split("# BEGIN README TEST COMMAND\n", 1)[1].split("# END README", 1)[0]
    assert block.strip() == quickstart_commands()[1]


def test_every_session_is_documented() -> None:
    from tests.support.workflows import inventory

    for session in inventory().sessions:
        base = session.split("-3.")[0]
        assert f"`{base}" in README, f"README does not mention the {base} session"
