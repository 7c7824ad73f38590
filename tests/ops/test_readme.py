"""The README is a true front page: the quickstart CI runs, every session and task, its links."""

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


def table_names(heading: str) -> list[str]:
    """The backticked names in the first column of the table under ``heading``."""
    section = README.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    first_cells = [row.split("|")[1] for row in rows]
    return [name.split()[0] for cell in first_cells for name in re.findall(r"`([^`]+)`", cell)]


def test_the_task_table_is_invoke_list() -> None:
    from tests.support.workflows import inventory

    tasks = inventory().tasks
    listed = set(table_names("Invoke tasks"))
    assert listed == set(tasks), f"missing: {set(tasks) - listed}; unknown: {listed - set(tasks)}"


def test_the_session_table_names_real_sessions() -> None:
    from tests.support.workflows import inventory

    sessions = inventory().sessions
    for name in table_names("Nox sessions"):
        full = f"tests{name}" if name.startswith("-3.") else name
        assert full in sessions, f"the README names a session that does not exist: {name}"


def test_the_readme_is_a_front_page_whose_links_exist() -> None:
    assert len(README.encode()) <= 12 * 1024, "the README is a front page (12 KB at most)"
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README):
        if target.startswith(("http://", "https://")):
            continue
        assert (ROOT / target).exists(), f"the README links to {target}, which does not exist"


def test_every_docs_page_links_only_to_what_exists() -> None:
    for page in sorted((ROOT / "docs").glob("*.md")):
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", page.read_text()):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            assert (page.parent / target).exists(), f"{page.name} links to {target}: missing"
