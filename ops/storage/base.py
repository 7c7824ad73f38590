"""The storage interface every backup backend implements, and its errors.

Keys are ``/``-separated relative paths (``local/db/<id>/manifest.json``); a
backend maps them below its own root (a directory, or a bucket and prefix).
Payloads are streamed: ``put`` reads a file object until EOF and ``get``
writes into one, so no object is ever held in memory whole.

Small objects can also be written conditionally on what was read (``get_tagged``,
``put_if_absent``, ``replace_if``, ``delete_if``): what a lock shared by several
machines needs (:mod:`ops.deploy.bucket_lock`). A tag is the content's hash (S3's ETag),
so a write conditional on it fails once anyone else has written different content.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO, Protocol, runtime_checkable

from ops.core.exits import CannotRun

CHUNK = 1024 * 1024
"""Bytes read or written at a time when streaming."""


def copy_stream(source: BinaryIO, sink: BinaryIO) -> int:
    """Copy until EOF in :data:`CHUNK` pieces; return the byte count."""
    size = 0
    while chunk := source.read(CHUNK):
        sink.write(chunk)
        size += len(chunk)
    return size


class StorageError(CannotRun):
    """Storage cannot be used (unreachable, denied, missing bucket or object, bad key);
    the message is one line naming the store."""


class ObjectMissing(StorageError):
    """The object asked for does not exist."""


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """One stored object: its key (relative to the store's root), size and mtime."""

    key: str
    size: int
    modified: datetime


@dataclass(frozen=True, slots=True)
class Tagged:
    """A small object's content and its tag (what a conditional write names)."""

    data: bytes
    tag: str


@runtime_checkable
class Storage(Protocol):
    """Where backups are kept: a local directory or an S3 bucket and prefix."""

    @property
    def description(self) -> str:
        """Where this store is, for messages (never with credentials)."""
        ...

    def check(self) -> None:
        """Raise :class:`StorageError` unless the store is reachable and usable."""
        ...

    def put(self, key: str, source: BinaryIO) -> int:
        """Store everything ``source`` yields until EOF under ``key``; return the size.

        The object appears only when complete: a failed or killed upload never
        leaves an object of that key behind.
        """
        ...

    def put_bytes(self, key: str, data: bytes) -> None:
        """Store a small object (manifests, reports)."""
        ...

    def get(self, key: str, sink: BinaryIO) -> int:
        """Write the object into ``sink``; return the number of bytes."""
        ...

    def get_bytes(self, key: str) -> bytes:
        """A small object's content."""
        ...

    def head(self, key: str) -> ObjectInfo | None:
        """The object's size and mtime, or None when it does not exist."""
        ...

    def list(self, prefix: str) -> list[ObjectInfo]:
        """Every object whose key starts with ``prefix``, sorted by key."""
        ...

    def delete(self, key: str) -> None:
        """Remove an object (no error when it does not exist)."""
        ...

    def get_tagged(self, key: str) -> Tagged | None:
        """A small object's content and tag (read together), or None when it does not exist."""
        ...

    def put_if_absent(self, key: str, data: bytes) -> bool:
        """Create a small object unless one exists: of concurrent callers, exactly one
        gets True."""
        ...

    def replace_if(self, key: str, data: bytes, tag: str) -> bool:
        """Replace the object only while its tag is ``tag``; False when it has changed
        or is gone (of concurrent callers with the same tag, at most one gets True)."""
        ...

    def delete_if(self, key: str, tag: str) -> bool:
        """Remove the object only while its tag is ``tag``; False when it has changed or
        is gone."""
        ...


def check_key(key: str) -> str:
    """``key`` if it is a safe relative key, else raise :class:`StorageError`."""
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in {"", ".", ".."} for p in parts):
        raise StorageError(f"invalid object key {key!r}")
    return key


def join_key(*parts: str) -> str:
    """Join key segments with ``/``, ignoring empty ones and stray slashes."""
    return "/".join(part.strip("/") for part in parts if part.strip("/"))
