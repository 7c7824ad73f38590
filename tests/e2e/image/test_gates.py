"""Each gate of ``image.check`` against a real engine: the built image passes it, and an
image broken in the one way the gate is for fails it with a message naming the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from ops.core.environ import current
from ops.image import boot, inspection, scans
from ops.image.boot import Limits
from ops.image.build import BuiltImage
from ops.image.engine import Engine
from ops.image.outcome import Outcome
from tests.e2e.image.conftest import BuildBad, as_root, saved

LIMITS = Limits(boot_seconds=60, health_interval_seconds=1, drain_seconds=15)
PG_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS = "redis://127.0.0.1:6379/0"
METADATA = "Metadata-Version: 2.1\\nName: rogue\\nVersion: 1.0\\n"


def rules(outcome: Outcome) -> set[str]:
    """The rule ids an outcome reported."""
    return {finding.rule_id for finding in outcome.findings}


def messages(outcome: Outcome) -> str:
    """Every message of an outcome, joined."""
    return " | ".join(finding.message for finding in outcome.findings)


def test_leftover_caches_and_build_tools_fail(
    engine: Engine, good_image: BuiltImage, build_bad: BuildBad, tmp_path: Path
) -> None:
    bad = build_bad(
        "leftovers",
        as_root(
            "mkdir -p /root/.cache/pip/http && echo cached > /root/.cache/pip/http/entry",
            "printf '#!/bin/sh\\n' > /usr/local/bin/uv && chmod +x /usr/local/bin/uv",
        ),
    )
    good = inspection.leftovers(
        saved(engine, good_image, tmp_path / "good"), inspection.base_layers(engine, good_image)
    )
    assert good.status == "passed", messages(good)
    found = inspection.leftovers(
        saved(engine, bad, tmp_path / "bad"), inspection.base_layers(engine, bad)
    )
    assert rules(found) == {"image-package-cache", "image-build-tool"}
    assert "/root/.cache/pip/http/entry" in messages(found)
    assert "/usr/local/bin/uv" in messages(found)


def test_a_root_user_fails_the_user_gate(good_image: BuiltImage, build_bad: BuildBad) -> None:
    assert inspection.user(good_image).status == "passed"
    bad = inspection.user(build_bad("root", "USER root"))
    assert rules(bad) == {"image-root-user"}
    assert "runs as root (USER root)" in messages(bad)


def test_the_size_budget_fails_a_larger_image(good_image: BuiltImage) -> None:
    mib = good_image.size_bytes / inspection.MIB
    assert inspection.size(good_image, mib + 1).status == "passed"
    over = inspection.size(good_image, mib - 1)
    assert rules(over) == {"image-over-budget"}
    assert "size_budget_mb" in messages(over)


def test_the_built_image_boots_and_drains(engine: Engine, good_image: BuiltImage) -> None:
    booted, drained = boot.boot_on_sqlite(engine, good_image, LIMITS)
    assert (booted.status, drained.status) == ("passed", "passed"), messages(booted) + messages(
        drained
    )
    assert booted.figures["uid"] == "10001"
    assert drained.figures["exit_code"] == 0
    assert drained.figures["answered"].startswith("HTTP/1.1 422")


def test_an_image_whose_migration_fails_does_not_boot(engine: Engine, build_bad: BuildBad) -> None:
    broken = "/app/app/db/migrations/versions/0099_broken.py"
    bad = build_bad(
        "broken-migration", as_root(f"echo 'raise RuntimeError(\"broken migration\")' > {broken}")
    )
    booted, drained = boot.boot_on_sqlite(engine, bad, LIMITS)
    assert rules(booted) == {"image-migrate-failed"}
    assert "python -m app migrate` exited" in messages(booted)
    assert "broken migration" in messages(booted)
    assert drained.skipped == "the image did not boot"


def test_an_app_that_exits_fails_the_boot(engine: Engine, build_bad: BuildBad) -> None:
    bad = build_bad("exits", 'CMD ["python", "-c", "raise SystemExit(3)"]')
    booted, _ = boot.boot_on_sqlite(engine, bad, LIMITS)
    assert rules(booted) == {"image-boot-failed"}
    assert "exited 3 before /health answered" in messages(booted)


@pytest.mark.parametrize(
    ("name", "instruction", "rule", "said"),
    [
        ("no-healthcheck", "HEALTHCHECK NONE", "image-no-healthcheck", "no HEALTHCHECK"),
        (
            "unhealthy",
            'HEALTHCHECK --start-period=1s --retries=1 CMD ["python", "-c", "raise SystemExit(1)"]',
            "image-unhealthy",
            "reported 'unhealthy'",
        ),
    ],
)
def test_a_missing_or_failing_healthcheck_fails_the_boot(
    engine: Engine, build_bad: BuildBad, name: str, instruction: str, rule: str, said: str
) -> None:
    booted, drained = boot.boot_on_sqlite(engine, build_bad(name, instruction), LIMITS)
    assert rules(booted) == {rule}
    assert said in messages(booted)
    assert drained.skipped


def test_a_kill_stop_signal_fails_the_drain(engine: Engine, build_bad: BuildBad) -> None:
    bad = build_bad("stop-kill", "STOPSIGNAL SIGKILL")
    booted, drained = boot.boot_on_sqlite(engine, bad, LIMITS)
    assert booted.status == "passed", messages(booted)
    assert "image-drain-not-graceful" in rules(drained)
    assert "killed on `docker stop` (SIGKILL)" in messages(drained)


def test_the_image_boots_in_production_on_postgres(engine: Engine, good_image: BuiltImage) -> None:
    from ops.backup.postgres import scratch_database

    with scratch_database(PG_SERVER, "image_e2e") as url:
        booted = boot.boot_on_postgres(engine, good_image, LIMITS, url, REDIS)
    assert booted.status == "passed", messages(booted)


def test_an_image_without_the_postgres_driver_fails_on_postgres(
    engine: Engine, build_bad: BuildBad
) -> None:
    from ops.backup.postgres import scratch_database

    bad = build_bad("no-asyncpg", as_root("rm -rf /opt/venv/lib/python3*/site-packages/asyncpg"))
    with scratch_database(PG_SERVER, "image_e2e") as url:
        booted = boot.boot_on_postgres(engine, bad, LIMITS, url, REDIS)
    assert rules(booted) == {"image-migrate-failed"}
    assert "asyncpg" in messages(booted)


def test_the_settings_guard_is_enforced_in_the_container(
    engine: Engine, good_image: BuiltImage, build_bad: BuildBad
) -> None:
    guarded = boot.settings_guard(engine, good_image, LIMITS)
    assert guarded.status == "passed", messages(guarded)
    assert "JWT_SECRET_KEY" in guarded.figures["said"]
    bad = build_bad(
        "no-guard",
        as_root(
            "sed -i 's/if is_placeholder(self.jwt_secret_key):/if False:/' /app/app/settings.py"
        ),
    )
    bypassed = boot.settings_guard(engine, bad, LIMITS)
    assert rules(bypassed) == {"image-guard-bypassed"}
    assert "placeholder JWT_SECRET_KEY" in messages(bypassed)


def test_an_unlocked_package_fails_the_image_sbom(
    engine: Engine, good_image: BuiltImage, build_bad: BuildBad, tmp_path: Path
) -> None:
    good = scans.sbom_check(
        engine,
        good_image,
        saved(engine, good_image, tmp_path / "good"),
        tmp_path / "good",
        current(),
    )
    assert good.status == "passed", messages(good)
    info = "$(echo /opt/venv/lib/python3*/site-packages)/rogue-1.0.dist-info"
    bad = build_bad(
        "rogue-package",
        as_root(f"mkdir -p {info} && printf '{METADATA}' > {info}/METADATA"),
    )
    found = scans.sbom_check(
        engine, bad, saved(engine, bad, tmp_path / "bad"), tmp_path / "bad", current()
    )
    assert rules(found) == {"sbom-unlocked-package"}
    assert "rogue 1.0 is in the SBOM but not a locked runtime dependency" in messages(found)
