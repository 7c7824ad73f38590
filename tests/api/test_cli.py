"""``python -m app``: migrate, seed, check-config; one-line errors, the project's exit codes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.cli import CANNOT_RUN, CHECK_FAILED, DONE
from app.db.migrate import head_revision
from ops.core import exits
from ops.core.commands import Completed
from ops.live.server import app_cli

PRODUCTION = {
    "ENVIRONMENT": "production",
    "JWT_SECRET_KEY": "Qm7xK2pV9sL4wN8rT1yB6hF3jD5gZ0cA",  # pragma: allowlist secret
    "DATABASE_URL": "postgresql://app@127.0.0.1:1/none",
}


def test_migrate_seed_and_check(tmp_path: Path) -> None:
    env = {"DATA_DIR": str(tmp_path / "var")}
    behind = run_app("migrate", "--check", env=env, cwd=tmp_path)
    assert behind.code == CHECK_FAILED
    assert "database at None" in behind.stderr

    migrated = run_app("migrate", env=env, cwd=tmp_path)
    assert migrated.code == DONE, migrated.stderr
    assert f"at revision {head_revision()}" in migrated.stdout
    assert run_app("migrate", "--check", env=env, cwd=tmp_path).code == DONE

    first = run_app("seed", "--json", env=env, cwd=tmp_path)
    assert first.code == DONE, first.stderr
    assert first.stdout.count('"new": true') == 4
    again = run_app("seed", env=env, cwd=tmp_path)
    assert again.code == DONE
    assert again.stdout.count("exists") == 4

    down = run_app("migrate", "--downgrade", "0001", env=env, cwd=tmp_path)
    assert down.code == CHECK_FAILED, "instruments in use are not silently dropped"
    assert down.stderr.startswith("error: database refused the change:"), down.stderr
    assert down.stderr.strip().count("\n") == 0


def test_the_exit_codes_are_the_projects() -> None:
    assert (DONE, CHECK_FAILED, CANNOT_RUN) == (exits.DONE, exits.CHECK_FAILED, exits.CANNOT_RUN)


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (("seed",), PRODUCTION, "error: refusing to create demo users in production"),
        (
            ("migrate", "--downgrade", "0001"),
            PRODUCTION,
            "error: refusing to downgrade a production database from the CLI",
        ),
        (
            ("seed",),
            {**PRODUCTION, "ENVIRONMENT": "staging"},
            "error: SEED_PASSWORD: is required in staging",
        ),
        (
            ("seed",),
            {"SEED_PASSWORD": "short"},
            "error: SEED_PASSWORD: must be at least 8 characters",
        ),
        (("check-config",), {"DEBUG": "maybe"}, "configuration error: DEBUG: "),
    ],
    ids=["seed-production", "downgrade-production", "no-seed-password", "short-password", "config"],
)
def test_refusals_cannot_run(
    tmp_path: Path, args: tuple[str, ...], env: dict[str, str], message: str
) -> None:
    result = run_app(*args, env={"DATA_DIR": str(tmp_path / "var"), **env}, cwd=tmp_path)
    assert result.code == CANNOT_RUN, result.stderr
    assert result.stderr.strip().startswith(message), result.stderr
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert not (tmp_path / "var" / "trading.db").exists(), "refused before touching a database"


def test_unreachable_database_is_one_line(tmp_path: Path) -> None:
    result = run_app(
        "migrate", env={"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}, cwd=tmp_path
    )
    assert result.code == CANNOT_RUN
    assert result.stderr.startswith("error: database unavailable:")
    assert result.stderr.strip().count("\n") == 0, result.stderr


def run_app(*args: str, env: dict[str, str], cwd: Path) -> Completed:
    """``python -m app ARGS`` with exactly the settings in ``env``."""
    return app_cli(*args, settings=env, env=os.environ, cwd=cwd)
