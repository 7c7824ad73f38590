"""Restoring a backup: plan (which backup, which target, is it empty, is it
production), guards (non-empty needs --force, production needs approval),
apply (checksum verified before anything is written, then pg_restore in one
transaction, or an atomic SQLite file swap, or archive extraction), and the
check afterwards (row counts and migration revision against the manifest)."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ops.backup import archives, postgres, sqlite
from ops.backup.catalog import BackupEntry, resolve, scan
from ops.backup.context import BackupContext, open_context
from ops.backup.database import (
    Snapshot,
    backend_of,
    check_against_manifest,
    pg_is_empty,
    pg_snapshot,
    safe_url,
    same_database,
    sqlite_is_empty,
    sqlite_path,
)
from ops.backup.errors import BackupCannotRun
from ops.backup.layout import Kind, object_key
from ops.backup.manifest import Manifest
from ops.backup.transfer import fetch
from ops.backup.verify import usable_key
from ops.core.console import Console
from ops.core.exits import OpsError
from ops.environments import available


@dataclass(frozen=True, slots=True)
class Target:
    """Where a restore writes: a database URL or a directory."""

    kind: str  # postgresql | sqlite | directory
    location: str  # URL (with password: never print) or directory path
    display: str
    production_environment: str | None = None  # the production environment it belongs to

    @property
    def production(self) -> bool:
        """True when the target is a production environment's database."""
        return self.production_environment is not None


@dataclass(frozen=True, slots=True)
class RestorePlan:
    """A restore, checked before anything is written."""

    entry: BackupEntry
    target: Target
    empty: bool
    steps: tuple[str, ...] = ()

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
            "production_target": self.target.production, "steps": list(self.steps),
        }  # fmt: skip


def _production_databases(context: BackupContext) -> dict[str, str]:
    """Production environment name -> its database URL (those that can be resolved)."""
    found = {}
    for name in available(context.environment_dir):
        try:
            other = open_context(name, context.env, context.environment_dir)
            if other.environment.is_production:
                found[name] = other.database_url()
        except OpsError:  # an environment that cannot be opened has no database to protect
            continue
    return found


def resolve_target(context: BackupContext, spec: str, kind: Kind) -> Target:
    """Parse ``--target``: a database URL, ``env:NAME`` (that environment's database),
    or for config/state backups a directory."""
    if kind != "db":
        path = Path(spec).expanduser().resolve()
        return Target("directory", str(path), str(path))
    production = None
    if spec.startswith("env:"):
        other = open_context(spec[4:], context.env, context.environment_dir)
        url = other.database_url()
        production = other.name if other.environment.is_production else None
    else:
        url = spec
    backend = backend_of(url)
    if production is None:
        databases = _production_databases(context).items()
        production = next((name for name, db in databases if same_database(url, db)), None)
    display = safe_url(url) if backend == "postgresql" else str(sqlite_path(url))
    return Target(backend, url, display, production)


def _is_empty(target: Target) -> bool:
    if target.kind == "directory":
        path = Path(target.location)
        return not path.exists() or not any(path.iterdir())
    if target.kind == "sqlite":
        return sqlite_is_empty(sqlite_path(target.location))
    return postgres.on_database(target.location, pg_is_empty)


def plan(context: BackupContext, reference: str, spec: str, kind: Kind) -> RestorePlan:
    """Which backup into which target; raises one line when they do not fit."""
    entry = resolve(scan(context.storage, context.name, kind), reference, context.name, kind)
    target = resolve_target(context, spec, kind)
    manifest = entry.manifest
    assert manifest is not None
    if manifest.database and manifest.database.backend != target.kind:
        raise BackupCannotRun(
            f"backup {entry.id} is a {manifest.database.backend} backup; "
            f"the target is {target.kind}"
        )
    empty = _is_empty(target)
    steps = (
        f"download {', '.join(o.name for o in manifest.objects)}, check sha256 with the manifest",
        *(["decrypt (authenticating every chunk)"] if manifest.encryption else []),
        _apply_step(target, empty),
        *(["compare row counts and migration revision with the manifest"] if kind == "db" else []),
    )
    return RestorePlan(entry, target, empty, steps)


def _apply_step(target: Target, empty: bool) -> str:
    if target.kind == "postgresql":
        clean = "" if empty else " --clean --if-exists"
        return f"pg_restore --single-transaction --exit-on-error{clean} into {target.display}"
    if target.kind == "sqlite":
        return f"integrity-check, then atomically replace {target.display}"
    return f"extract into {target.display}"


def guard(plan: RestorePlan, *, force: bool, yes: bool, console: Console) -> str | None:
    """Refuse a non-empty target without ``force``; a production target needs approval
    (``yes``, or typing the production environment's name). Returns how a production
    restore was approved (None for any other target)."""
    if not plan.empty and not force:
        raise BackupCannotRun(
            f"target {plan.target.display} is not empty: pass --force to overwrite it"
        )
    production = plan.target.production_environment
    if production is None:
        return None
    question = f"Restore backup {plan.entry.id} into PRODUCTION ({plan.target.display})?"
    return console.approve(
        question, production, yes=yes, needed_for=f"a restore into {production}'s database"
    )


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


def apply(context: BackupContext, plan: RestorePlan) -> Result:
    """Restore (after the checksum passes), then check the result against the manifest."""
    began = time.monotonic()
    checks = load(context, plan)
    if plan.entry.kind == "db":
        checks += check(plan)
    return Result(plan.entry.id, plan.target.display, round(time.monotonic() - began, 3), checks)


def load(context: BackupContext, plan: RestorePlan) -> list[str]:
    """Download and check the payload, then write it into the target."""
    manifest = plan.manifest
    key = usable_key(context, manifest)
    stored = manifest.objects[0]
    with tempfile.TemporaryDirectory(prefix="restore-") as directory:
        name = object_key(manifest.environment, manifest.kind, manifest.id, stored.name)
        payload = fetch(context.storage, name, stored, Path(directory) / "payload", key)
        checks = [f"{stored.name}: sha256 matches the manifest"]
        return checks + _restore_payload(context, plan, payload, Path(directory))


def _restore_payload(
    context: BackupContext, plan: RestorePlan, payload: Path, workdir: Path
) -> list[str]:
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
    tools = postgres.tools(context.env)
    assert manifest.database is not None
    archive = postgres.parse_version(manifest.database.tool_version)
    postgres.require_client("pg_restore", tools.restore_version, archive, "the archive's pg_dump")
    postgres.restore(tools, target.location, payload, clean=not plan.empty)
    return ["pg_restore completed (one transaction)"]


def check(plan: RestorePlan) -> list[str]:
    """Row counts and migration revision of the restored database against the manifest."""
    if plan.target.kind == "sqlite":
        facts = sqlite.check_database(sqlite_path(plan.target.location))
    else:
        facts = read_facts(plan.target.location)
    assert plan.manifest.database is not None
    return check_against_manifest(plan.manifest.database, facts, "restored")


def read_facts(url: str) -> Snapshot:
    """Row counts, revision and newest data of a PostgreSQL database."""
    return postgres.on_database(url, pg_snapshot)
