"""Restoring a backup: plan (which backup, which target, is it empty, is it
production), guards (non-empty needs --force, production needs confirmation),
apply (checksum verified before anything is written, then pg_restore in one
transaction, or an atomic SQLite file swap, or archive extraction), and the
check afterwards (row counts and migration revision against the manifest)."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ops.backup import archives, postgres, sqlite
from ops.backup.catalog import BackupEntry, resolve, scan
from ops.backup.context import BackupContext, open_context
from ops.backup.database import (
    Snapshot,
    backend_of,
    compare_counts,
    pg_is_empty,
    pg_snapshot,
    safe_url,
    same_database,
    sqlite_is_empty,
    sqlite_path,
)
from ops.backup.errors import BackupError
from ops.backup.layout import Kind, object_key
from ops.backup.manifest import Manifest
from ops.backup.transfer import fetch
from ops.backup.verify import usable_key
from ops.environments import available

Confirm = Callable[[str], bool]


@dataclass(frozen=True, slots=True)
class Target:
    """Where a restore writes: a database URL or a directory."""

    kind: str  # postgresql | sqlite | directory
    location: str  # URL (with password: never print) or directory path
    display: str
    production: bool = False


@dataclass(slots=True)
class Plan:
    """A restore, checked before anything is written."""

    entry: BackupEntry
    target: Target
    empty: bool
    steps: list[str] = field(default_factory=list)

    @property
    def manifest(self) -> Manifest:
        """The backup's manifest."""
        assert self.entry.manifest is not None
        return self.entry.manifest

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (no secrets)."""
        return {
            "backup": self.entry.id, "kind": self.entry.kind, "environment": self.entry.environment,
            "target": self.target.display, "target_empty": self.empty,
            "production_target": self.target.production, "steps": self.steps,
        }  # fmt: skip


def _production_urls(context: BackupContext) -> list[str]:
    urls = []
    for name in available(context.environment_dir):
        try:
            other = open_context(name, context.env, context.environment_dir)
            if other.environment.is_production:
                urls.append(other.database_url())
        except BackupError:
            continue
    return urls


def resolve_target(context: BackupContext, spec: str, kind: Kind) -> Target:
    """Parse ``--target``: a database URL, ``env:NAME`` (that environment's database),
    or for config/state backups a directory."""
    if kind != "db":
        path = Path(spec).expanduser().resolve()
        return Target("directory", str(path), str(path))
    if spec.startswith("env:"):
        other = open_context(spec[4:], context.env, context.environment_dir)
        url = other.database_url()
        production = other.environment.is_production
    else:
        url, production = spec, False
    backend = backend_of(url)
    production = production or any(same_database(url, p) for p in _production_urls(context))
    display = safe_url(url) if backend == "postgresql" else str(sqlite_path(url))
    return Target(backend, url, display, production)


def _is_empty(target: Target) -> bool:
    if target.kind == "directory":
        path = Path(target.location)
        return not path.exists() or not any(path.iterdir())
    if target.kind == "sqlite":
        return sqlite_is_empty(sqlite_path(target.location))
    return asyncio.run(_pg_empty(target.location))


async def _pg_empty(url: str) -> bool:
    connection = await postgres.connect(url)
    try:
        return await pg_is_empty(connection)
    finally:
        await connection.close()


def plan(context: BackupContext, reference: str, spec: str, kind: Kind) -> Plan:
    """Which backup into which target; raises one line when they do not fit."""
    entry = resolve(scan(context.storage, context.name, kind), reference, context.name, kind)
    target = resolve_target(context, spec, kind)
    manifest = entry.manifest
    assert manifest is not None
    if manifest.database and manifest.database.backend != target.kind:
        raise BackupError(
            f"backup {entry.id} is a {manifest.database.backend} backup; "
            f"the target is {target.kind}"
        )
    empty = _is_empty(target)
    steps = [
        f"download {', '.join(o.name for o in manifest.objects)}, check sha256 with the manifest",
        *(["decrypt (authenticating every chunk)"] if manifest.encryption else []),
        _apply_step(target, empty),
        *(["compare row counts and migration revision with the manifest"] if kind == "db" else []),
    ]
    return Plan(entry, target, empty, steps)


def _apply_step(target: Target, empty: bool) -> str:
    if target.kind == "postgresql":
        clean = "" if empty else " --clean --if-exists"
        return f"pg_restore --single-transaction --exit-on-error{clean} into {target.display}"
    if target.kind == "sqlite":
        return f"integrity-check, then atomically replace {target.display}"
    return f"extract into {target.display}"


def guard(plan: Plan, force: bool, yes: bool, confirm: Confirm | None) -> None:
    """Refuse a non-empty target without ``force`` and production without confirmation."""
    if not plan.empty and not force:
        raise BackupError(
            f"target {plan.target.display} is not empty: pass --force to overwrite it"
        )
    if plan.target.production and not yes:
        question = f"Restore backup {plan.entry.id} into PRODUCTION ({plan.target.display})?"
        if confirm is None:
            raise BackupError(
                "refusing to restore into a production database without confirmation: pass --yes"
            )
        if not confirm(question):
            raise BackupError("restore into production not confirmed")


@dataclass(frozen=True, slots=True)
class Result:
    """What a restore did and what it found."""

    backup_id: str
    target: str
    seconds: float
    checks: list[str]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "backup": self.backup_id,
            "target": self.target,
            "seconds": self.seconds,
            "checks": self.checks,
        }


def apply(context: BackupContext, plan: Plan) -> Result:
    """Restore (after the checksum passes), then check the result against the manifest."""
    began = time.monotonic()
    checks = load(context, plan)
    if plan.entry.kind == "db":
        checks += check(plan)
    return Result(plan.entry.id, plan.target.display, round(time.monotonic() - began, 3), checks)


def load(context: BackupContext, plan: Plan) -> list[str]:
    """Download and check the payload, then write it into the target."""
    manifest = plan.manifest
    key = usable_key(context, manifest)
    stored = manifest.objects[0]
    with tempfile.TemporaryDirectory(prefix="restore-") as directory:
        name = object_key(manifest.environment, manifest.kind, manifest.id, stored.name)
        payload = fetch(context.storage, name, stored, Path(directory) / "payload", key)
        checks = [f"{stored.name}: sha256 matches the manifest"]
        return checks + _restore_payload(plan, payload, Path(directory))


def _restore_payload(plan: Plan, payload: Path, workdir: Path) -> list[str]:
    manifest, target = plan.manifest, plan.target
    if target.kind == "directory":
        archives.test(payload, manifest.files)
        count = archives.extract(payload, Path(target.location))
        return [f"archive matches the manifest; {count} files extracted"]
    if target.kind == "sqlite":
        database = workdir / "restored.sqlite3"
        sqlite.decompress(payload, database)
        sqlite.check_database(database)
        sqlite.replace_database(database, sqlite_path(target.location))
        return ["SQLite integrity_check ok, file replaced atomically"]
    tools = postgres.tools()
    assert manifest.database is not None
    archive = postgres.parse_version(manifest.database.tool_version)
    postgres.require_client("pg_restore", tools.restore_version, archive, "the archive's pg_dump")
    postgres.restore(tools, target.location, payload, clean=not plan.empty)
    return ["pg_restore completed (one transaction)"]


def check(plan: Plan) -> list[str]:
    """Row counts and migration revision of the restored database against the manifest."""
    if plan.target.kind == "sqlite":
        facts = sqlite.check_database(sqlite_path(plan.target.location))
    else:
        facts = read_facts(plan.target.location)
    return check_against_manifest(plan.manifest, facts)


def read_facts(url: str) -> Snapshot:
    """Row counts, revision and newest data of a PostgreSQL database."""
    return asyncio.run(_pg_facts(url))


async def _pg_facts(url: str) -> Snapshot:
    connection = await postgres.connect(url)
    try:
        return await pg_snapshot(connection)
    finally:
        await connection.close()


def check_against_manifest(manifest: Manifest, facts: Snapshot) -> list[str]:
    """Row counts and migration revision must be those the manifest recorded."""
    assert manifest.database is not None
    expected = manifest.database
    differences = compare_counts(expected.row_counts, facts.row_counts)
    if differences:
        raise BackupError(f"restored row counts differ from the manifest: {'; '.join(differences)}")
    if facts.migration_revision != expected.migration_revision:
        raise BackupError(
            f"restored migration revision {facts.migration_revision} differs from the "
            f"manifest's {expected.migration_revision}"
        )
    return [
        f"row counts of {len(expected.row_counts)} tables match the manifest",
        f"migration revision {facts.migration_revision} matches",
    ]
