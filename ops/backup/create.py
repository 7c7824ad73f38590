"""Taking a backup: preflight (the plan), payload upload, manifest written last.

A backup is complete only once its manifest exists. A failure removes what was
already uploaded; a kill leaves at most partial objects and no manifest, which
every listing shows as incomplete and ``backup.prune`` removes later.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from ops.backup import archives, postgres, sqlite
from ops.backup.context import BackupContext, app_version, git_sha, host
from ops.backup.crypto import DEFAULT_CHUNK, SCHEME, EncryptionKey
from ops.backup.database import Snapshot, backend_of, pg_snapshot, safe_url, sqlite_path
from ops.backup.errors import BackupCannotRun, BackupCheckFailed
from ops.backup.layout import MANIFEST, Kind, backup_prefix, new_id, object_key
from ops.backup.manifest import DatabaseFacts, Encryption, FileEntry, Manifest, StoredObject
from ops.backup.transfer import ENCRYPTED_SUFFIX, upload
from ops.storage import StorageError

PAYLOAD = {"postgresql": "database.pgdump", "sqlite": "database.sqlite3.gz"}


@dataclass(frozen=True, slots=True)
class BackupPlan:
    """What a backup will do, checked before anything is written."""

    environment: str
    kind: Kind
    source: str
    destination: str
    encrypted: bool
    key_id: str | None = None
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def _encryption_required(context: BackupContext, kind: Kind) -> bool:
    backup = context.environment.backup
    return {"config": True, "db": backup.encrypt_database, "state": backup.encrypt_state}[kind]


def plan(context: BackupContext, kind: Kind) -> BackupPlan:
    """Preflight: key, storage and source must be usable; raises one line otherwise."""
    key = context.key(needed=_encryption_required(context, kind))
    context.storage.check()
    source, notes = _describe_source(context, kind)
    return BackupPlan(
        environment=context.name,
        kind=kind,
        source=source,
        destination=f"{context.storage.description}: {backup_prefix(context.name, kind, '<id>')}",
        encrypted=key is not None,
        key_id=key.key_id if key else None,
        notes=notes,
    )


def _describe_source(context: BackupContext, kind: Kind) -> tuple[str, list[str]]:
    if kind != "db":
        files, missing = archives.collect(
            archives.patterns(context.environment, kind), context.root
        )
        return f"{len(files)} files", [f"nothing matches {pattern}" for pattern in missing]
    url = context.database_url()
    if backend_of(url) == "sqlite":
        path = sqlite_path(url)
        if not path.is_file():
            raise BackupCannotRun(f"SQLite database {path} does not exist")
        return f"SQLite {path}", []
    tools = postgres.tools(context.env)
    server = postgres.on_database(url, postgres.server_version)
    postgres.require_client("pg_dump", tools.dump_version, server, "the server")
    return f"PostgreSQL {server} at {safe_url(url)}", [f"pg_dump {tools.dump_version}"]


@dataclass(slots=True)
class _Payload:
    objects: list[StoredObject]
    consistent_at: datetime
    database: DatabaseFacts | None = None
    files: list[FileEntry] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def run(context: BackupContext, kind: Kind) -> Manifest:
    """Take one backup of ``kind``; returns its manifest (already stored, last)."""
    key = context.key(needed=_encryption_required(context, kind))
    started = context.clock()
    backup_id = new_id(started)
    try:
        payload = _take(context, kind, backup_id, key)
        manifest = _manifest(context, kind, backup_id, started, payload, key)
        _check_stored(context, manifest)
        context.storage.put_bytes(
            object_key(context.name, kind, backup_id, MANIFEST), manifest.to_json()
        )
    except BaseException:
        _discard(context, kind, backup_id)
        raise
    return manifest


def _take(
    context: BackupContext, kind: Kind, backup_id: str, key: EncryptionKey | None
) -> _Payload:
    if kind != "db":
        return _archive(context, kind, backup_id, key)
    url = context.database_url()
    if backend_of(url) == "sqlite":
        return _sqlite(context, url, backup_id, key)
    return _postgres(context, url, backup_id, key)


def _name(base: str, key: EncryptionKey | None) -> str:
    return base + (ENCRYPTED_SUFFIX if key else "")


def _postgres(
    context: BackupContext, url: str, backup_id: str, key: EncryptionKey | None
) -> _Payload:
    tools = postgres.tools(context.env)
    target = object_key(context.name, "db", backup_id, _name(PAYLOAD["postgresql"], key))
    stored: list[StoredObject] = []

    def consume(stream: BinaryIO) -> None:
        """Upload pg_dump's output as it is produced."""
        stored.append(upload(context.storage, target, stream, "pg_dump-custom", key))

    async def dump(connection: Any) -> tuple[postgres.Version, datetime, Snapshot, int]:
        """pg_dump of one exported snapshot while the same transaction counts the rows."""
        server = await postgres.server_version(connection)
        postgres.require_client("pg_dump", tools.dump_version, server, "the server")
        async with connection.transaction(isolation="repeatable_read", readonly=True):
            consistent_at = context.clock()
            snapshot = await connection.fetchval("SELECT pg_export_snapshot()")
            streamed = asyncio.to_thread(postgres.stream_dump, tools, url, snapshot, consume)
            facts, _ = await asyncio.gather(pg_snapshot(connection), streamed)
            size = int(await connection.fetchval("SELECT pg_database_size(current_database())"))
        return server, consistent_at, facts, size

    server, consistent_at, facts, size = postgres.on_database(url, dump)
    database = DatabaseFacts(
        backend="postgresql", database=safe_url(url), server_version=str(server),
        tool="pg_dump", tool_version=str(tools.dump_version), size_bytes=size,
        migration_revision=facts.migration_revision, row_counts=facts.row_counts,
        newest_data_at=facts.newest_data_at,
    )  # fmt: skip
    return _Payload(stored, consistent_at, database)


def _sqlite(
    context: BackupContext, url: str, backup_id: str, key: EncryptionKey | None
) -> _Payload:
    path = sqlite_path(url)
    target = object_key(context.name, "db", backup_id, _name(PAYLOAD["sqlite"], key))
    with tempfile.TemporaryDirectory(prefix="backup-") as directory:
        copy, packed = Path(directory) / "copy.sqlite3", Path(directory) / "copy.sqlite3.gz"
        consistent_at = context.clock()
        facts = sqlite.online_backup(path, copy)
        sqlite.compress(copy, packed)
        with packed.open("rb") as handle:
            stored = upload(context.storage, target, handle, "sqlite3-gzip", key)
    database = DatabaseFacts(
        backend="sqlite", database=str(path), server_version=sqlite3.sqlite_version,
        tool="sqlite3 online backup API", tool_version=sqlite3.sqlite_version,
        size_bytes=path.stat().st_size, migration_revision=facts.migration_revision,
        row_counts=facts.row_counts, newest_data_at=facts.newest_data_at,
    )  # fmt: skip
    return _Payload([stored], consistent_at, database)


def _archive(
    context: BackupContext, kind: Kind, backup_id: str, key: EncryptionKey | None
) -> _Payload:
    files, missing = archives.collect(archives.patterns(context.environment, kind), context.root)
    target = object_key(context.name, kind, backup_id, _name(f"{kind}.tar.gz", key))
    consistent_at = context.clock()
    with tempfile.TemporaryDirectory(prefix="backup-") as directory:
        packed = Path(directory) / "archive.tar.gz"
        entries = archives.build(files, packed, context.root)
        with packed.open("rb") as handle:
            stored = upload(context.storage, target, handle, "tar-gzip", key)
    return _Payload([stored], consistent_at, files=entries, missing=missing)


def _manifest(
    context: BackupContext,
    kind: Kind,
    backup_id: str,
    started: datetime,
    payload: _Payload,
    key: EncryptionKey | None,
) -> Manifest:
    encryption = None
    if key is not None:
        key_env = context.environment.backup.encryption_key_env
        encryption = Encryption(
            scheme=SCHEME, key_env=key_env, key_id=key.key_id, chunk_size=DEFAULT_CHUNK
        )
    return Manifest(
        id=backup_id, environment=context.name, kind=kind, started_at=started,
        consistent_at=payload.consistent_at, finished_at=context.clock(),
        objects=payload.objects, encryption=encryption, database=payload.database,
        files=payload.files, missing_paths=payload.missing, app_version=app_version(context.env),
        git_sha=git_sha(context.env), host=host(),
    )  # fmt: skip


def _check_stored(context: BackupContext, manifest: Manifest) -> None:
    """Every payload object is in storage with the size we wrote."""
    for stored in manifest.objects:
        key = object_key(context.name, manifest.kind, manifest.id, stored.name)
        info = context.storage.head(key)
        if info is None or info.size != stored.size:
            found = "missing" if info is None else f"{info.size} bytes"
            raise BackupCheckFailed(
                f"object {key}: {found} after upload, expected {stored.size} bytes"
            )


def _discard(context: BackupContext, kind: Kind, backup_id: str) -> None:
    """Best effort: remove what a failed backup uploaded (never its manifest: none exists)."""
    with contextlib.suppress(StorageError, OSError):
        for info in context.storage.list(backup_prefix(context.name, kind, backup_id)):
            context.storage.delete(info.key)
