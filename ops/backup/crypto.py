"""Client-side encryption of backup objects: AES-256-GCM in fixed-size chunks.

Format (version 1), all integers big-endian::

    header  = magic "TPBKENC1" (8) | key id (8) | salt (32) | chunk size (uint32)
    chunk i = AES-256-GCM(file key, nonce_i, plaintext_i, aad=header)   # ciphertext || 16-byte tag

The file key is HKDF-SHA256(master key, salt, info "trading-backup/v1/file-key"),
so every object has its own key and the chunk nonces can be a counter:
``nonce_i = uint88(i) || final``, where ``final`` is 1 for the last chunk and 0
otherwise (the STREAM construction): reordering, dropping, truncating or
appending chunks fails authentication. Every chunk but the last holds exactly
``chunk size`` plaintext bytes; the last holds 0..chunk size. The key id (a
hash of the master key) tells a wrong key apart from a corrupt object.

The master key is 32 random bytes, base64-encoded, in the variable the
environment names (``backup.encryption_key_env``, default BACKUP_ENCRYPTION_KEY):
``openssl rand -base64 32``. ``python -m ops.backup decrypt IN OUT`` decrypts.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ops.backup.errors import BackupCannotRun, BackupCheckFailed

SCHEME = "aes-256-gcm-chunked-v1"
MAGIC = b"TPBKENC1"
HEADER = struct.Struct(">8s8s32sI")
TAG = 16
DEFAULT_CHUNK = 1024 * 1024
MAX_CHUNK = 64 * 1024 * 1024
KEY_BYTES = 32
_INFO = b"trading-backup/v1/file-key"


class KeyProblem(BackupCannotRun):
    """The key is missing or malformed (nothing can be encrypted or decrypted); one line."""


class DecryptionFailed(BackupCheckFailed):
    """An object does not decrypt: a wrong key, tampering, truncation; one line."""


@dataclass(frozen=True, slots=True)
class EncryptionKey:
    """A 256-bit master key (never printed)."""

    material: bytes = field(repr=False)

    @property
    def key_id(self) -> str:
        """A public fingerprint of the key (hex), recorded in headers and manifests."""
        return hashlib.sha256(b"trading-backup key id\0" + self.material).hexdigest()[:16]


def key_from_text(text: str, name: str) -> EncryptionKey:
    """Decode a base64 key held in variable ``name``; one-line error when malformed."""
    try:
        material = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        material = b""
    if len(material) != KEY_BYTES:
        raise KeyProblem(
            f"{name}: must be {KEY_BYTES} random bytes, base64-encoded "
            "(generate one with `openssl rand -base64 32`)"
        )
    return EncryptionKey(material)


def load_key(name: str, env: Mapping[str, str]) -> EncryptionKey:
    """The key in variable ``name`` of ``env``; :class:`KeyProblem` when unset or malformed."""
    value = env.get(name, "")
    if not value.strip():
        raise KeyProblem(f"{name}: not set (an encryption key is required for this backup)")
    return key_from_text(value, name)


def _file_key(key: EncryptionKey, salt: bytes) -> AESGCM:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=salt, info=_INFO)
    return AESGCM(hkdf.derive(key.material))


def _nonce(index: int, final: bool) -> bytes:
    return index.to_bytes(11, "big") + (b"\x01" if final else b"\x00")


class Encryptor:
    """Plaintext in, the version-1 format out (a :class:`~ops.backup.streams.Transform`)."""

    def __init__(self, key: EncryptionKey, chunk_size: int = DEFAULT_CHUNK) -> None:
        salt = secrets.token_bytes(32)
        self.header = HEADER.pack(MAGIC, bytes.fromhex(key.key_id), salt, chunk_size)
        self._aead = _file_key(key, salt)
        self._chunk = chunk_size
        self._buffer = bytearray()
        self._index = 0
        self._started = False

    def _seal(self, data: bytes, final: bool) -> bytes:
        sealed = self._aead.encrypt(_nonce(self._index, final), data, self.header)
        self._index += 1
        return sealed

    def _start(self) -> bytes:
        if self._started:
            return b""
        self._started = True
        return self.header

    def update(self, data: bytes) -> bytes:
        """Encrypt every full chunk that is known not to be the last one."""
        self._buffer += data
        out = [self._start()]
        while len(self._buffer) > self._chunk:
            out.append(self._seal(bytes(self._buffer[: self._chunk]), final=False))
            del self._buffer[: self._chunk]
        return b"".join(out)

    def finish(self) -> bytes:
        """The final chunk (possibly empty plaintext)."""
        out = self._start() + self._seal(bytes(self._buffer), final=True)
        self._buffer.clear()
        return out


class Decryptor:
    """The version-1 format in, plaintext out; fails on any tampering or a wrong key."""

    def __init__(self, key: EncryptionKey) -> None:
        self._key = key
        self._aead: AESGCM | None = None
        self._header = b""
        self._block = 0
        self._buffer = bytearray()
        self._index = 0

    def _read_header(self) -> bool:
        if self._aead is not None:
            return True
        if len(self._buffer) < HEADER.size:
            return False
        header = bytes(self._buffer[: HEADER.size])
        magic, key_id, salt, chunk = HEADER.unpack(header)
        if magic != MAGIC:
            raise DecryptionFailed("not an encrypted backup object (bad magic)")
        if key_id.hex() != self._key.key_id:
            raise DecryptionFailed(
                f"wrong key: the object was encrypted with key id {key_id.hex()}, "
                f"this key has id {self._key.key_id}"
            )
        if not 0 < chunk <= MAX_CHUNK:
            raise DecryptionFailed(f"invalid chunk size {chunk} in header")
        del self._buffer[: HEADER.size]
        self._header, self._block = header, chunk + TAG
        self._aead = _file_key(self._key, salt)
        return True

    def _open(self, data: bytes, final: bool) -> bytes:
        assert self._aead is not None
        try:
            plain = self._aead.decrypt(_nonce(self._index, final), data, self._header)
        except InvalidTag:
            raise DecryptionFailed(
                f"authentication failed at chunk {self._index}: corrupt, truncated or reordered"
            ) from None
        self._index += 1
        return plain

    def update(self, data: bytes) -> bytes:
        """Decrypt every chunk that is followed by more data."""
        self._buffer += data
        if not self._read_header():
            return b""
        out = []
        while len(self._buffer) > self._block:
            out.append(self._open(bytes(self._buffer[: self._block]), final=False))
            del self._buffer[: self._block]
        return b"".join(out)

    def finish(self) -> bytes:
        """Decrypt the final chunk; fail when the stream ends early."""
        if not self._read_header():
            raise DecryptionFailed("truncated: the object ends inside its header")
        if len(self._buffer) < TAG:
            raise DecryptionFailed("truncated: the final chunk is missing")
        out = self._open(bytes(self._buffer), final=True)
        self._buffer.clear()
        return out
