"""The invoke tasks run the app's own CLI."""

from __future__ import annotations

from invoke.context import MockContext

from ops import devtasks


def _commands(context: MockContext) -> list[str]:
    return [call.args[0] for call in context.run.call_args_list]  # type: ignore[attr-defined]


def _context() -> MockContext:
    return MockContext(run=True, repeat=True)


def test_dev_migrates_seeds_and_serves_with_reload() -> None:
    context = _context()
    devtasks.dev(context, "127.0.0.1", 8123, reload=True)
    commands = _commands(context)
    assert [c.split(" -m app ")[1] for c in commands] == [
        "migrate",
        "seed",
        "serve --host 127.0.0.1 --port 8123 --reload",
    ]


def test_migrate_modes() -> None:
    context = _context()
    devtasks.migrate(context, "head", None, check=False)
    devtasks.migrate(context, "head", "0001", check=False)
    devtasks.migrate(context, "head", None, check=True)
    assert [c.split(" -m app ")[1] for c in _commands(context)] == [
        "migrate --revision head",
        "migrate --downgrade 0001",
        "migrate --check",
    ]


def test_seed() -> None:
    context = _context()
    devtasks.seed(context, as_json=True)
    assert _commands(context)[0].endswith("-m app seed --json")
