"""Moving payloads in and out of storage: encrypt and hash on the way in, check the
sha256 and size against the manifest and decrypt on the way out."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from ops.backup.crypto import DecryptionFailed, Decryptor, EncryptionKey, Encryptor
from ops.backup.errors import BackupCannotRun, BackupCheckFailed
from ops.backup.manifest import ObjectFormat, StoredObject
from ops.backup.streams import Digest, TransformReader, TransformWriter
from ops.storage import Storage
from ops.storage.base import copy_stream

ENCRYPTED_SUFFIX = ".enc"


def upload(
    storage: Storage,
    key: str,
    source: BinaryIO,
    fmt: ObjectFormat,
    encryption: EncryptionKey | None,
) -> StoredObject:
    """Stream ``source`` into storage (encrypted when a key is given); the sha256 and
    size are those of the stored bytes."""
    transforms = [Encryptor(encryption)] if encryption else []
    reader = TransformReader(source, transforms, Digest())
    stored = storage.put(key, reader)  # type: ignore[arg-type]  # a readable stream
    if stored != reader.digest.size:
        raise BackupCheckFailed(f"object {key}: stored {stored} bytes, wrote {reader.digest.size}")
    return StoredObject(
        name=key.rsplit("/", 1)[-1],
        format=fmt,
        size=stored,
        sha256=reader.digest.hexdigest,
        plain_size=reader.consumed if encryption else None,
        encrypted=encryption is not None,
    )


def fetch(
    storage: Storage,
    key: str,
    expected: StoredObject,
    destination: Path,
    encryption: EncryptionKey | None,
) -> Path:
    """Download into ``destination``, check sha256 and size of the stored bytes against
    the manifest (a mismatch is a one-line error naming the object), then decrypt."""
    if expected.encrypted and encryption is None:
        raise BackupCannotRun(f"object {key} is encrypted: its key is needed to read it")
    raw = (
        destination.with_name(destination.name + ENCRYPTED_SUFFIX)
        if expected.encrypted
        else destination
    )
    with raw.open("wb") as sink:
        writer = TransformWriter(sink, (), Digest())
        storage.get(key, writer)  # type: ignore[arg-type]  # a writable stream
    _check(key, expected, writer.digest)
    if expected.encrypted and encryption is not None:
        decrypt_file(raw, destination, encryption, key)
        raw.unlink()
    return destination


def decrypt_file(source: Path, destination: Path, encryption: EncryptionKey, name: str) -> None:
    """Decrypt a version-1 encrypted file; one-line error naming ``name`` on failure."""
    try:
        with source.open("rb") as handle, destination.open("wb") as sink:
            writer = TransformWriter(sink, [Decryptor(encryption)])
            copy_stream(handle, writer)  # type: ignore[arg-type]  # a writable stream
            writer.finish()
    except DecryptionFailed as error:
        destination.unlink(missing_ok=True)
        raise DecryptionFailed(f"object {name}: {error}") from None


def _check(key: str, expected: StoredObject, digest: Digest) -> None:
    if digest.size != expected.size:
        raise BackupCheckFailed(
            f"object {key}: size {digest.size} bytes, manifest says {expected.size} "
            "(corrupt or truncated)"
        )
    if digest.hexdigest != expected.sha256:
        raise BackupCheckFailed(
            f"object {key}: sha256 mismatch (manifest {expected.sha256[:12]}…, "
            f"stored {digest.hexdigest[:12]}…): the object is corrupt"
        )
