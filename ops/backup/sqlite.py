"""SQLite: a consistent copy through the online backup API, gzip, integrity checks,
and an atomic restore that never leaves a half-written database file."""

from __future__ import annotations

import gzip
import os
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

from ops.backup.database import Snapshot, sqlite_snapshot
from ops.backup.errors import BackupCannotRun, BackupCheckFailed

GZIP_LEVEL = 6


def online_backup(source: Path, destination: Path) -> Snapshot:
    """Copy a live database with ``sqlite3.Connection.backup`` (one consistent snapshot,
    readers and writers of the source keep working); return the copy's facts."""
    if not source.is_file():
        raise BackupCannotRun(f"SQLite database {source} does not exist")
    uri = f"{source.resolve().as_uri()}?mode=ro"
    try:
        with (
            closing(sqlite3.connect(uri, uri=True)) as src,
            closing(sqlite3.connect(destination)) as dst,
        ):
            src.backup(dst)
    except sqlite3.DatabaseError as error:
        raise BackupCannotRun(f"SQLite backup of {source} failed: {error}") from None
    return check_database(destination)


def check_database(path: Path) -> Snapshot:
    """``PRAGMA integrity_check`` must say ok; return the database's facts."""
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as db:
            result = [row[0] for row in db.execute("PRAGMA integrity_check")]
            if result != ["ok"]:
                raise BackupCheckFailed(f"SQLite integrity check failed: {result[0]}")
            return sqlite_snapshot(db)
    except sqlite3.DatabaseError as error:
        raise BackupCheckFailed(f"not a valid SQLite database: {error}") from None


def compress(source: Path, destination: Path) -> None:
    """gzip ``source`` into ``destination``."""
    with source.open("rb") as raw, gzip.open(destination, "wb", compresslevel=GZIP_LEVEL) as out:
        shutil.copyfileobj(raw, out, 1024 * 1024)


def decompress(source: Path, destination: Path) -> None:
    """gunzip ``source`` into ``destination``; one-line error when it is not gzip."""
    try:
        with gzip.open(source, "rb") as packed, destination.open("wb") as out:
            shutil.copyfileobj(packed, out, 1024 * 1024)
    except (OSError, EOFError) as error:
        raise BackupCheckFailed(f"not a valid gzip stream: {error}") from None


def replace_database(restored: Path, target: Path) -> None:
    """Move a checked database file into place atomically, dropping the old WAL files
    (a stale ``-wal`` beside a new main file would be replayed into it)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = target.with_name(f".{target.name}.restoring")
    shutil.copyfile(restored, staged)
    with staged.open("rb") as handle:
        os.fsync(handle.fileno())
    for suffix in ("-wal", "-shm", "-journal"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    staged.replace(target)
