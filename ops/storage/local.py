"""A directory as backup storage (the embedded default).

Objects are files below the root. A put writes ``<name>.partial-<random>``
beside the final name, fsyncs it and renames it into place, so a crash or a
kill never leaves a truncated object under the final key (the partial file
stays visible to listings, which is how an interrupted backup shows up).

The conditional writes are as atomic between processes as S3's: ``put_if_absent``
hard-links a complete partial file to the key (``link`` fails when the key exists, like
O_EXCL); ``replace_if`` and ``delete_if`` hold an exclusive ``flock`` on the key's file
while they compare its tag and swap it (a waiter finds the key's file replaced and fails).
The tag is the content's SHA-256.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from ops.storage.base import (
    ObjectInfo,
    ObjectMissing,
    StorageError,
    Tagged,
    check_key,
    copy_stream,
)

PARTIAL = ".partial-"


class LocalStorage:
    """Objects as files under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    @property
    def description(self) -> str:
        """The directory."""
        return f"directory {self.root}"

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def check(self) -> None:
        """Create the root if needed; fail when it cannot be written."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StorageError(f"{self.description}: {error.strerror or error}") from None
        if not os.access(self.root, os.W_OK):
            raise StorageError(f"{self.description}: not writable")

    def put(self, key: str, source: BinaryIO) -> int:
        """Stream ``source`` into a partial file, fsync, then rename into place."""
        return _write_in_place(self._path(key), source)

    def put_bytes(self, key: str, data: bytes) -> None:
        """Write a small object atomically."""
        self.put(key, io.BytesIO(data))

    def get(self, key: str, sink: BinaryIO) -> int:
        """Copy the file into ``sink``."""
        try:
            with self._path(key).open("rb") as handle:
                return copy_stream(handle, sink)
        except FileNotFoundError:
            raise ObjectMissing(f"{self.description}: no object {key}") from None

    def get_bytes(self, key: str) -> bytes:
        """The file's content."""
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise ObjectMissing(f"{self.description}: no object {key}") from None

    def head(self, key: str) -> ObjectInfo | None:
        """Size and mtime of the file, if it exists."""
        path = self._path(key)
        if not path.is_file():
            return None
        return _info(key, path)

    def list(self, prefix: str) -> list[ObjectInfo]:
        """Every file whose key starts with ``prefix``."""
        directory = self.root / prefix.rsplit("/", 1)[0] if "/" in prefix else self.root
        if not directory.is_dir():
            return []
        found = []
        for base, _dirs, files in os.walk(directory):
            for name in files:
                path = Path(base) / name
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    found.append(_info(key, path))
        return sorted(found, key=lambda info: info.key)

    def delete(self, key: str) -> None:
        """Remove the file and any directories left empty up to the root."""
        path = self._path(key)
        path.unlink(missing_ok=True)
        parent = path.parent
        while parent != self.root and parent.is_dir() and not any(parent.iterdir()):
            try:
                parent.rmdir()
            except OSError:  # someone is writing into it meanwhile: it stays
                return
            parent = parent.parent

    def get_tagged(self, key: str) -> Tagged | None:
        """The file's content and its SHA-256, or None."""
        with self._failing_as(f"read {key}"):
            try:
                data = self._path(key).read_bytes()
            except FileNotFoundError:
                return None
        return Tagged(data, _tag(data))

    def put_if_absent(self, key: str, data: bytes) -> bool:
        """Hard-link a complete partial file to the key; False when the key exists."""
        path = self._path(key)
        with self._failing_as(f"create {key}"):
            partial, _size = _write_partial(path, io.BytesIO(data))
            try:
                os.link(partial, path)
            except FileExistsError:
                return False
            finally:
                partial.unlink(missing_ok=True)
            _fsync_dir(path.parent)
        return True

    def replace_if(self, key: str, data: bytes, tag: str) -> bool:
        """Rename a new file over the key's while holding its lock, if its tag is ``tag``."""
        path = self._path(key)
        with self._failing_as(f"replace {key}"), _held(path) as current:
            if current is None or _tag(current) != tag:
                return False
            _write_in_place(path, io.BytesIO(data))
        return True

    def delete_if(self, key: str, tag: str) -> bool:
        """Remove the key's file while holding its lock, if its tag is ``tag``."""
        with self._failing_as(f"delete {key}"), _held(self._path(key)) as current:
            if current is None or _tag(current) != tag:
                return False
            self.delete(key)
        return True

    @contextmanager
    def _failing_as(self, what: str) -> Iterator[None]:
        try:
            yield
        except OSError as error:
            raise StorageError(f"{self.description}: {what}: {error.strerror or error}") from None


def _tag(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@contextmanager
def _held(path: Path) -> Iterator[bytes | None]:
    """The file's content while an exclusive lock on it is held; None when there is no
    file, or it was replaced or removed while waiting for the lock."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        yield None
        return
    with handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            current = os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino
        except FileNotFoundError:
            current = False
        yield handle.read() if current else None


def _write_partial(path: Path, source: BinaryIO) -> tuple[Path, int]:
    """``source`` in a new fsynced file beside ``path``; its path and size."""
    partial = path.with_name(f"{path.name}{PARTIAL}{secrets.token_hex(4)}")
    handle = _create(partial)
    try:
        with handle:
            size = copy_stream(source, handle)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return partial, size


def _write_in_place(path: Path, source: BinaryIO) -> int:
    """``source`` written beside ``path`` (:func:`_write_partial`), then renamed over it;
    its size."""
    partial, size = _write_partial(path, source)
    try:
        partial.replace(path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return size


def _create(path: Path) -> BinaryIO:
    """A new file, creating its directory (again, should a concurrent delete remove it as
    it empties: once, a directory that vanishes twice is a real failure)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return path.open("xb")
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        return path.open("xb")


def _info(key: str, path: Path) -> ObjectInfo:
    stat = path.stat()
    return ObjectInfo(key, stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC))


def _fsync_dir(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
