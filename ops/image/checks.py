"""``invoke image.check``: every gate of the production image, one verdict.

The gates, cheapest first: ``user`` (not root), ``leftovers`` (no package manager
caches or build tools in the image's own layers), ``size`` (the environment's
budget), ``boot-sqlite`` (migrate, /health and /ready 200, non-root uid, HEALTHCHECK
healthy), ``drain`` (SIGTERM with a request in flight), ``boot-postgres`` (the same in
production mode on this machine's PostgreSQL and Redis), ``settings-guard``,
``trivy`` and ``sbom``.

Their findings are one security gate, ``image``: judged against the reviewed
suppression list and written as ``reports/security/image.sarif`` and
``image.status.json``, so the security summary includes them. The saved image stays
in ``reports/image/image.tar`` for the ``trivy`` session to scan by default.

Exit codes: 1 when a gate failed; 2 when one could not run (a tool missing); 3 when
one was skipped (PostgreSQL or Redis unreachable outside CI, trivy's database
offline) and nothing failed; else 0.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ops.backup.postgres import scratch_database
from ops.core.console import Console, table
from ops.core.environ import in_ci
from ops.core.exits import CannotRun, CheckFailed, Inconclusive, OpsError, one_line
from ops.environments import EnvironmentDefinition
from ops.image import archive, boot, inspection, scans
from ops.image.boot import Limits
from ops.image.build import BuiltImage
from ops.image.engine import Engine, server_version
from ops.image.outcome import GATE, Outcome
from ops.live.stores import DEFAULT_REDIS, redis_answers
from ops.project import REPORTS
from ops.security import scanner, trivy

TOOL = "image.check"
DEFAULT_DATABASE_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


@dataclass(frozen=True)
class Places:
    """Where the check writes: the security reports, and the saved image."""

    security: Path = scanner.REPORT_DIR
    image: Path = REPORTS / "image"

    @classmethod
    def under(cls, directory: Path) -> Places:
        """``security/`` and ``image/`` under another reports directory."""
        return cls(directory / "security", directory / "image")

    @property
    def saved_image(self) -> Path:
        """The ``docker save`` archive (what trivy scans)."""
        return self.image / trivy.SAVED_IMAGE


def limits_of(definition: EnvironmentDefinition) -> Limits:
    """The time limits of the environment's ``[image]`` section."""
    image = definition.image
    return Limits(image.boot_seconds, image.health_interval_seconds, image.drain_seconds)


def run(
    engine: Engine,
    built: BuiltImage,
    definition: EnvironmentDefinition,
    console: Console,
    env: Mapping[str, str],
    places: Places = Places(),
) -> dict[str, Any]:
    """Run every gate on ``built``; report, then raise what the verdict means."""
    limits = limits_of(definition)
    console.say(f"checking {built.tag} ({built.id[:19]}) against [image] of {definition.name}")
    saved = archive.save(engine, built.tag, places.saved_image)
    outcomes: list[Outcome] = []

    def gate(name: str, check: Callable[[], Outcome | tuple[Outcome, ...]]) -> None:
        found = _guarded(name, check)
        for outcome in found:
            console.say(f"  {outcome.name:<15} {_line(outcome)}")
        outcomes.extend(found)

    gate("user", lambda: inspection.user(built))
    gate("leftovers", lambda: inspection.leftovers(saved, inspection.base_layers(engine, built)))
    gate("size", lambda: inspection.size(built, definition.image.size_budget_mb))
    gate("boot-sqlite", lambda: boot.boot_on_sqlite(engine, built, limits))
    gate("boot-postgres", lambda: _on_postgres(engine, built, limits, definition, env))
    gate("settings-guard", lambda: boot.settings_guard(engine, built, limits))
    gate("trivy", lambda: scans.trivy_scan(saved, places.security / "native", env))
    gate("sbom", lambda: scans.sbom_check(engine, built, saved, places.security, env))
    return _conclude(engine, built, outcomes, console, places)


def _guarded(name: str, check: Callable[[], Outcome | tuple[Outcome, ...]]) -> tuple[Outcome, ...]:
    """The gate's outcome(s); a gate that cannot run becomes an outcome saying why."""
    try:
        found = check()
    except OpsError as error:
        message = one_line(error)
        return (Outcome(name, error=message.removeprefix(f"{name}: ")),)
    return found if isinstance(found, tuple) else (found,)


def _line(outcome: Outcome) -> str:
    if outcome.error:
        return f"could not run: {outcome.error}"
    if outcome.findings:
        return f"{outcome.status}: " + "; ".join(f.message for f in outcome.findings)
    detail = outcome.skipped or "; ".join(outcome.notes)
    return f"{outcome.status}{': ' + detail if detail else ''}"


def _on_postgres(
    engine: Engine,
    built: BuiltImage,
    limits: Limits,
    definition: EnvironmentDefinition,
    env: Mapping[str, str],
) -> Outcome:
    """Boot on a throwaway database of the configured server; unreachable services are a
    skipped check (a failure under CI, where they always run)."""
    server = env.get(definition.image.database_url_env) or DEFAULT_DATABASE_SERVER
    redis_url = env.get(definition.image.redis_url_env) or DEFAULT_REDIS
    try:
        redis_answers(redis_url)
        with scratch_database(server, "image_check") as database_url:
            return boot.boot_on_postgres(engine, built, limits, database_url, redis_url)
    except CannotRun as error:
        outcome = Outcome("boot-postgres")
        if in_ci(env):
            outcome.fail(
                "image-boot-services",
                f"cannot boot on PostgreSQL and Redis under CI: {one_line(error)}",
            )
        else:
            outcome.skipped = f"PostgreSQL or Redis not reachable: {one_line(error)}"
        return outcome


def _conclude(
    engine: Engine, built: BuiltImage, outcomes: list[Outcome], console: Console, places: Places
) -> dict[str, Any]:
    result = scanner.ScanResult(GATE, TOOL, server_version(engine))
    for outcome in outcomes:
        result.findings += outcome.findings
        if outcome.skipped:
            result.skipped_checks.append(f"{outcome.name}: {outcome.skipped}")
    errors = [f"{outcome.name}: {outcome.error}" for outcome in outcomes if outcome.error]
    result.failure = "; ".join(errors)
    verdict = scanner.judge(result, scanner.SUPPRESSIONS, places.security)
    rows = [[o.name, o.status, len(o.findings)] for o in outcomes]
    console.say(table(["gate", "status", "problems"], rows))
    console.say(scanner.render(result, verdict))
    report = {
        "image": built.to_dict(),
        "status": verdict.status,
        "reason": verdict.reason,
        "gates": [outcome.to_dict() for outcome in outcomes],
        "saved_image": str(places.saved_image),
    }
    console.result(report)
    if errors:
        raise CannotRun(f"image check could not run: {errors[0]}")
    if verdict.status == scanner.FAILED:
        raise CheckFailed(f"image check failed: {verdict.reason}")
    if result.skipped_checks:
        raise Inconclusive(f"image check passed, but skipped {result.skipped_checks[0]}")
    return report
