"""``python -m app``: migrate, seed, check-config; one-line errors."""

from __future__ import annotations

import os
from pathlib import Path

from ops.core.commands import Completed
from ops.live.server import app_cli


def test_migrate_seed_and_check(tmp_path: Path) -> None:
    env = {"DATA_DIR": str(tmp_path / "var")}
    behind = run_app("migrate", "--check", env=env, cwd=tmp_path)
    assert behind.code == 1
    assert "database at None" in behind.stderr

    migrated = run_app("migrate", env=env, cwd=tmp_path)
    assert migrated.code == 0, migrated.stderr
    assert "at revision 0002" in migrated.stdout
    assert run_app("migrate", "--check", env=env, cwd=tmp_path).code == 0

    first = run_app("seed", "--json", env=env, cwd=tmp_path)
    assert first.code == 0, first.stderr
    assert first.stdout.count('"new": true') == 4
    again = run_app("seed", env=env, cwd=tmp_path)
    assert again.code == 0
    assert again.stdout.count("exists") == 4

    down = run_app("migrate", "--downgrade", "0001", env=env, cwd=tmp_path)
    assert down.code == 1, "instruments in use are not silently dropped"
    assert down.stderr.startswith("error: database refused the change:"), down.stderr
    assert down.stderr.strip().count("\n") == 0


def test_seed_is_refused_in_production(tmp_path: Path) -> None:
    env = {
        "ENVIRONMENT": "production",
        "JWT_SECRET_KEY": "Qm7xK2pV9sL4wN8rT1yB6hF3jD5gZ0cA",  # pragma: allowlist secret
        "DATABASE_URL": "postgresql://app@127.0.0.1:1/none",
    }
    result = run_app("seed", env=env, cwd=tmp_path)
    assert result.code == 1
    assert result.stderr.strip() == "error: refusing to create demo users in production"


def test_unreachable_database_is_one_line(tmp_path: Path) -> None:
    result = run_app(
        "migrate", env={"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}, cwd=tmp_path
    )
    assert result.code == 1
    assert result.stderr.startswith("error: database unavailable:")
    assert result.stderr.strip().count("\n") == 0, result.stderr


def run_app(*args: str, env: dict[str, str], cwd: Path) -> Completed:
    """``python -m app ARGS`` with exactly the settings in ``env``."""
    return app_cli(*args, settings=env, env=os.environ, cwd=cwd)
