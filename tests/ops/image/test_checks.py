"""``image.check``'s verdict: a gate that cannot run, the line each gate prints, the
environment's limits, the PostgreSQL gate without services, and the one conclusion --
reports written, then the exit the outcomes mean."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ops.core.console import Console
from ops.core.exits import CannotRun, CheckFailed, Inconclusive
from ops.environments import EnvironmentDefinition, ImageSettings
from ops.image import checks
from ops.image.boot import Limits
from ops.image.outcome import Outcome
from ops.security.findings import Severity
from tests.ops.image.fakes import VERSION, FakeEngine, built


def failed_user() -> Outcome:
    """The user gate's outcome on a root image."""
    outcome = Outcome("user")
    outcome.fail("image-root-user", "the image runs as root (no USER instruction)")
    return outcome


def test_a_gate_that_cannot_run_becomes_an_outcome_saying_why() -> None:
    def missing_tool() -> Outcome:
        raise CannotRun("trivy: command not found")

    [outcome] = checks._guarded("trivy", missing_tool)
    assert (outcome.name, outcome.status, outcome.error) == (
        "trivy",
        "could not run",
        "command not found",  # the gate's name is not said twice
    )
    pair = (Outcome("boot-sqlite"), Outcome("drain"))
    assert checks._guarded("boot-sqlite", lambda: pair) == pair
    assert checks._guarded("size", failed_user) == (failed_user(),)


def test_each_gate_prints_one_line_of_its_status() -> None:
    assert (
        checks._line(Outcome("trivy", error="trivy: not found"))
        == "could not run: trivy: not found"
    )
    two = failed_user()
    two.fail("image-build-tool", "1 build tool file(s)")
    assert checks._line(two) == (
        "failed: the image runs as root (no USER instruction); 1 build tool file(s)"
    )
    assert checks._line(Outcome("boot-postgres", skipped="no Redis")) == "skipped: no Redis"
    assert checks._line(Outcome("size", notes=["455 MiB", "fine"])) == "passed: 455 MiB; fine"
    assert checks._line(Outcome("user")) == "passed"


def definition(**image: float | str) -> EnvironmentDefinition:
    """An environment definition with these ``[image]`` settings."""
    return EnvironmentDefinition(
        name="staging",
        platform="kubernetes",
        public_url="https://staging.example.com",
        image=ImageSettings(**image),
    )


def test_the_limits_are_the_environments() -> None:
    chosen = definition(boot_seconds=30, health_interval_seconds=1, drain_seconds=5)
    assert checks.limits_of(chosen) == Limits(30, 1, 5)


@pytest.mark.parametrize("ci", ["", "true"])
def test_the_postgres_gate_without_redis_is_skipped_or_under_ci_failed(ci: str) -> None:
    chosen = definition(redis_url_env="TEST_IMAGE_REDIS")
    env = {"TEST_IMAGE_REDIS": "redis://127.0.0.1:1/0", "CI": ci}
    outcome = checks._on_postgres(FakeEngine(), built(), checks.limits_of(chosen), chosen, env)
    if ci:
        assert outcome.status == "failed"
        [finding] = outcome.findings
        assert finding.message.startswith(
            "cannot boot on PostgreSQL and Redis under CI: Redis at redis://127.0.0.1:1/0: "
        )
    else:
        assert outcome.status == "skipped"
        assert outcome.skipped.startswith("PostgreSQL or Redis not reachable: Redis at redis://")


@pytest.fixture
def places(tmp_path: Path) -> checks.Places:
    """Reports of the test's own."""
    return checks.Places(security=tmp_path / "security", image=tmp_path / "image")


def conclude(places: checks.Places, *outcomes: Outcome) -> dict[str, object]:
    """The conclusion of ``outcomes``, with a fake engine and a plain console."""
    console = Console(as_json=False, report=places.image / "report.json", env={})
    return checks._conclude(FakeEngine(), built(), list(outcomes), console, places)


def status_of(places: checks.Places) -> dict[str, object]:
    """The image gate's status file."""
    found: dict[str, object] = json.loads((places.security / "image.status.json").read_text())
    return found


def test_a_failed_gate_fails_the_check_and_is_reported(
    places: checks.Places, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(
        CheckFailed,
        match=r"^image check failed: 1 unsuppressed high/critical "
        r"finding\(s\): image-root-user at deploy/Dockerfile$",
    ):
        conclude(places, failed_user(), Outcome("size"))
    status = status_of(places)
    assert (status["status"], status["tool"], status["version"]) == (
        "failed",
        "image.check",
        VERSION,
    )
    assert (places.security / "image.sarif").is_file()
    report = json.loads((places.image / "report.json").read_text())
    assert [(g["gate"], g["status"]) for g in report["gates"]] == [
        ("user", "failed"),
        ("size", "passed"),
    ]
    assert "user  failed  1" in capsys.readouterr().out


def test_a_skipped_gate_makes_the_check_inconclusive(places: checks.Places) -> None:
    skipped = Outcome("boot-postgres", skipped="PostgreSQL or Redis not reachable: refused")
    with pytest.raises(
        Inconclusive,
        match=r"^image check passed, but skipped boot-postgres: "
        r"PostgreSQL or Redis not reachable: refused$",
    ):
        conclude(places, Outcome("user"), skipped)
    assert status_of(places)["skipped_checks"] == [
        "boot-postgres: PostgreSQL or Redis not reachable: refused"
    ]


def test_a_gate_that_could_not_run_means_the_check_could_not_run(places: checks.Places) -> None:
    broken = Outcome("trivy", error="disk full")
    with pytest.raises(CannotRun, match=r"^image check could not run: trivy: disk full$"):
        conclude(places, failed_user(), broken)
    assert status_of(places)["status"] == "failed"


def test_every_gate_passed_is_the_report(places: checks.Places) -> None:
    minor = Outcome("trivy")
    minor.fail("DS-0026", "No HEALTHCHECK defined", Severity.LOW)
    report = conclude(places, Outcome("user"), minor)
    assert report["status"] == "passed"
    assert report["saved_image"] == str(places.image / "image.tar")
    assert json.loads((places.image / "report.json").read_text()) == report
    assert status_of(places)["counts"] == {
        "critical": 0,
        "high": 0,
        "medium": 0,
        "low": 1,
        "info": 0,
    }
