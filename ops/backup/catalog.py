"""What is in backup storage: backups grouped by id, complete or not, verified or not."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ops.backup.errors import BackupCannotRun, BackupCheckFailed
from ops.backup.layout import (
    MANIFEST,
    VERIFICATION,
    Kind,
    backup_prefix,
    id_time,
    kind_prefix,
)
from ops.backup.manifest import Manifest, Verification, parse_manifest, parse_verification
from ops.storage import ObjectInfo, Storage


@dataclass(slots=True)
class BackupEntry:
    """One backup id in storage: its objects, and its manifest once complete."""

    environment: str
    kind: Kind
    id: str
    objects: list[ObjectInfo] = field(default_factory=list)
    manifest: Manifest | None = None
    verification: Verification | None = None
    problem: str | None = None  # an unreadable manifest or verification record

    @property
    def complete(self) -> bool:
        """True once the manifest has been written (it is written last)."""
        return self.manifest is not None

    @property
    def prefix(self) -> str:
        """The prefix of this backup's objects."""
        return backup_prefix(self.environment, self.kind, self.id)

    @property
    def time(self) -> datetime:
        """When the backup finished (complete) or started (per its id)."""
        if self.manifest is not None:
            return self.manifest.finished_at
        started = id_time(self.id)
        if started is not None:
            return started
        return min(obj.modified for obj in self.objects)

    @property
    def verified_ok(self) -> bool:
        """True when the latest verification passed."""
        return self.verification is not None and self.verification.ok

    @property
    def stored_bytes(self) -> int:
        """Bytes stored under this backup's prefix."""
        return sum(obj.size for obj in self.objects)


def _read_documents(storage: Storage, entry: BackupEntry) -> None:
    names = {obj.key.rsplit("/", 1)[-1] for obj in entry.objects}
    try:
        if MANIFEST in names:
            key = entry.prefix + MANIFEST
            entry.manifest = parse_manifest(storage.get_bytes(key), key)
            _check_location(entry.manifest, entry, key)
        if VERIFICATION in names:
            key = entry.prefix + VERIFICATION
            entry.verification = parse_verification(storage.get_bytes(key), key)
    except BackupCheckFailed as error:
        entry.manifest = None
        entry.problem = str(error)


def _check_location(manifest: Manifest, entry: BackupEntry, key: str) -> None:
    found = (manifest.environment, manifest.kind, manifest.id)
    if found != (entry.environment, entry.kind, entry.id):
        raise BackupCheckFailed(f"{key}: manifest describes {'/'.join(found)}, not this location")


def scan(storage: Storage, environment: str, kind: Kind) -> list[BackupEntry]:
    """Every backup of one kind, oldest first; incomplete ones included."""
    prefix = kind_prefix(environment, kind)
    entries: dict[str, BackupEntry] = {}
    for obj in storage.list(prefix):
        rest = obj.key[len(prefix) :]
        if "/" not in rest:
            continue
        backup_id = rest.split("/", 1)[0]
        entries.setdefault(backup_id, BackupEntry(environment, kind, backup_id)).objects.append(obj)
    for entry in entries.values():
        _read_documents(storage, entry)
    return sorted(entries.values(), key=lambda e: (e.time, e.id))


def complete(entries: list[BackupEntry]) -> list[BackupEntry]:
    """Only the complete backups."""
    return [entry for entry in entries if entry.complete]


def resolve(
    entries: list[BackupEntry], reference: str, environment: str, kind: Kind
) -> BackupEntry:
    """The backup ``reference`` names (an id, or ``latest``); one-line error otherwise."""
    if reference == "latest":
        done = complete(entries)
        if not done:
            raise BackupCannotRun(f"no complete {kind} backup of environment {environment!r}")
        return done[-1]
    for entry in entries:
        if entry.id == reference:
            if not entry.complete:
                detail = entry.problem or "no manifest: it never finished"
                raise BackupCannotRun(f"backup {reference} is incomplete ({detail})")
            return entry
    raise BackupCannotRun(f"no {kind} backup {reference!r} in environment {environment!r}")
