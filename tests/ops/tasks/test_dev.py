"""The developer tasks run the app's own command line and keep its exit code."""

from __future__ import annotations

import pytest
from invoke.context import Context
from invoke.exceptions import Exit

from ops.tasks import dev


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    seen: list[list[str]] = []

    def main(argv: list[str]) -> int:
        seen.append(argv)
        return 0

    monkeypatch.setattr("app.cli.main", main)
    return seen


def test_dev_migrates_seeds_and_serves_with_reload(calls: list[list[str]]) -> None:
    dev.dev(Context(), "127.0.0.1", 8123, reload=True)
    assert calls == [
        ["migrate"],
        ["seed"],
        ["serve", "--host", "127.0.0.1", "--port", "8123", "--reload"],
    ]


def test_migrate_modes(calls: list[list[str]]) -> None:
    dev.migrate(Context(), "head", "", check=False)
    dev.migrate(Context(), "head", "0001", check=False)
    dev.migrate(Context(), "head", "", check=True)
    assert calls == [["migrate", "--revision", "head"], ["migrate", "--downgrade", "0001"],
                     ["migrate", "--check"]]  # fmt: skip


def test_seed(calls: list[list[str]]) -> None:
    dev.seed(Context(), json_=True)
    assert calls == [["seed", "--json"]]


def test_a_failing_command_ends_the_task_with_its_code(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("app.cli.main", lambda argv: 2)
    with pytest.raises(Exit) as stopped:
        dev.migrate(Context(), "head", "", check=True)
    assert stopped.value.code == 2
