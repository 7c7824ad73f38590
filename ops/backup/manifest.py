"""The manifest written last for every backup, and the separate verification record."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ops.backup.errors import BackupCheckFailed
from ops.backup.layout import Kind

FORMAT_VERSION = 1
ObjectFormat = Literal["pg_dump-custom", "sqlite3-gzip", "tar-gzip"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StoredObject(_Model):
    """One payload object: name in the backup's directory, stored size and sha256."""

    name: str
    format: ObjectFormat
    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    plain_size: int | None = None  # before encryption (None when not encrypted)
    encrypted: bool = False


class Encryption(_Model):
    """How the payload was encrypted (the key itself is never stored)."""

    scheme: str
    key_env: str
    key_id: str
    chunk_size: int


class DatabaseFacts(_Model):
    """What the database looked like at the backup's consistency point."""

    backend: Literal["postgresql", "sqlite"]
    database: str  # URL without password, or the SQLite path
    server_version: str
    tool: str
    tool_version: str
    size_bytes: int
    migration_revision: str | None
    row_counts: dict[str, int]
    newest_data_at: datetime | None = None


class FileEntry(_Model):
    """One file inside a config or state archive."""

    path: str
    size: int
    sha256: str


class Manifest(_Model):
    """Everything needed to trust, list, restore and prune one backup."""

    format_version: int = FORMAT_VERSION
    id: str
    environment: str
    kind: Kind
    started_at: datetime
    consistent_at: datetime  # the data is as of this instant (RPO reference)
    finished_at: datetime
    objects: list[StoredObject]
    encryption: Encryption | None = None
    database: DatabaseFacts | None = None
    files: list[FileEntry] = Field(default_factory=list)
    missing_paths: list[str] = Field(default_factory=list)
    app_version: str
    git_sha: str
    host: str

    @property
    def stored_bytes(self) -> int:
        """Total size of the payload objects."""
        return sum(obj.size for obj in self.objects)

    @property
    def duration_seconds(self) -> float:
        """How long the backup took."""
        return (self.finished_at - self.started_at).total_seconds()

    def to_json(self) -> bytes:
        """The stored form."""
        return self.model_dump_json(indent=2).encode() + b"\n"


class Verification(_Model):
    """The result of the latest ``backup.verify`` of one backup."""

    backup_id: str
    verified_at: datetime
    ok: bool
    problem: str | None = None
    checks: list[str] = Field(default_factory=list)
    seconds: float = 0
    host: str = ""

    def to_json(self) -> bytes:
        """The stored form."""
        return self.model_dump_json(indent=2).encode() + b"\n"


def parse_manifest(data: bytes, where: str) -> Manifest:
    """Read a stored manifest; one-line error when it is not valid."""
    try:
        return Manifest.model_validate_json(data)
    except ValidationError as error:
        raise BackupCheckFailed(f"{where}: invalid manifest: {_first(error)}") from None


def parse_verification(data: bytes, where: str) -> Verification:
    """Read a stored verification record; one-line error when it is not valid."""
    try:
        return Verification.model_validate_json(data)
    except ValidationError as error:
        raise BackupCheckFailed(f"{where}: invalid verification record: {_first(error)}") from None


def _first(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "document"
    return f"{where}: {first['msg']}"
