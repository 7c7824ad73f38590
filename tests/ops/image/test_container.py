"""Containers of the image under check get their settings from a private file, never
on a command line; a migration that fails is a finding naming its exit and output."""

from __future__ import annotations

import stat
from pathlib import Path

from ops.image import boot, container
from ops.image.boot import Limits
from ops.image.outcome import Outcome
from tests.ops.image.fakes import FakeEngine

MARKER = "not-on-a-command-line"
SETTINGS = {"ENVIRONMENT": "production", "JWT_SECRET": MARKER}
LIMITS = Limits(boot_seconds=30, health_interval_seconds=1, drain_seconds=5)


def test_the_settings_file_is_private_and_deleted_afterwards() -> None:
    with container.env_file(SETTINGS) as path:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert path.read_text() == f"ENVIRONMENT=production\nJWT_SECRET={MARKER}\n"
    assert not path.exists()


def test_a_one_off_container_gets_its_settings_from_the_file() -> None:
    engine = FakeEngine(run_output="migrated\n")
    done = container.one_off(
        engine, "trading-api:1", settings=SETTINGS, command=boot.MIGRATE, timeout=30
    )
    assert done.stdout == "migrated\n"
    [call] = engine.calls
    assert call[:3] == ("run", "--rm", "--env-file")
    assert not Path(call[3]).exists()
    assert call[4:] == ("trading-api:1", *boot.MIGRATE)
    assert not any("not-on-a-command-line" in part for part in call)


def test_names_are_unique_and_say_what_they_are_for() -> None:
    first, second = container.unique_name("boot"), container.unique_name("boot")
    assert first.startswith("trading-image-check-boot-")
    assert first != second


def test_a_failed_migration_is_a_finding_with_its_output() -> None:
    outcome = Outcome("boot-sqlite")
    engine = FakeEngine(run_code=1)
    assert not boot.migrate(engine, "trading-api:1", SETTINGS, (), LIMITS, outcome)
    [finding] = outcome.findings
    assert (finding.rule_id, finding.message) == (
        "image-migrate-failed",
        "`python -m app migrate` exited 1: boom",
    )
    assert boot.migrate(FakeEngine(), "trading-api:1", SETTINGS, (), LIMITS, Outcome("x"))
