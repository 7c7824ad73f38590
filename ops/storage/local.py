"""A directory as backup storage (the embedded default).

Objects are files below the root. A put writes ``<name>.partial-<random>``
beside the final name, fsyncs it and renames it into place, so a crash or a
kill never leaves a truncated object under the final key (the partial file
stays visible to listings, which is how an interrupted backup shows up).
"""

from __future__ import annotations

import io
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from ops.storage.base import ObjectInfo, ObjectMissing, StorageError, check_key, copy_stream

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
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}{PARTIAL}{secrets.token_hex(4)}")
        try:
            with partial.open("wb") as handle:
                size = copy_stream(source, handle)
                handle.flush()
                os.fsync(handle.fileno())
            partial.replace(path)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        _fsync_dir(path.parent)
        return size

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
            parent.rmdir()
            parent = parent.parent


def _info(key: str, path: Path) -> ObjectInfo:
    stat = path.stat()
    return ObjectInfo(key, stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC))


def _fsync_dir(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
