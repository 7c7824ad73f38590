"""The chunked AES-256-GCM format: round trips, tampering, truncation, wrong keys."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest

from ops.backup.crypto import (
    HEADER,
    TAG,
    DecryptionFailed,
    Decryptor,
    Encryptor,
    KeyProblem,
    key_from_text,
    load_key,
)
from ops.core.exits import CANNOT_RUN, CHECK_FAILED
from tests.ops.backup.helpers import flip_byte
from tests.support.invoke import subprocess_env
from tests.support.workspace import KEY, OTHER_KEY

CHUNK = 64


def encrypt(data: bytes, key: str = KEY, chunk: int = CHUNK) -> bytes:
    encryptor = Encryptor(key_from_text(key, "K"), chunk)
    pieces = _pieces(data)
    return b"".join(encryptor.update(p) for p in pieces) + encryptor.finish()


def decrypt(data: bytes, key: str = KEY) -> bytes:
    decryptor = Decryptor(key_from_text(key, "K"))
    return b"".join(decryptor.update(p) for p in _pieces(data)) + decryptor.finish()


def _pieces(data: bytes) -> list[bytes]:
    rng = random.Random(len(data))
    pieces, index = [], 0
    while index < len(data):
        size = rng.randint(1, 3 * CHUNK)
        pieces.append(data[index : index + size])
        index += size
    return pieces


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 5 * CHUNK + 7])
def test_round_trip(size: int) -> None:
    data = random.Random(size).randbytes(size)
    sealed = encrypt(data)
    chunks = max(1, -(-size // CHUNK))
    assert len(sealed) == HEADER.size + size + chunks * TAG
    assert decrypt(sealed) == data


def test_every_object_has_its_own_salt() -> None:
    assert encrypt(b"same") != encrypt(b"same")


@pytest.mark.parametrize("offset", [HEADER.size + 3, HEADER.size + CHUNK + TAG + 1, -1])
def test_a_flipped_byte_fails_authentication(offset: int) -> None:
    sealed = bytearray(encrypt(bytes(3 * CHUNK)))
    sealed[offset] ^= 0x01
    with pytest.raises(DecryptionFailed, match="authentication failed at chunk"):
        decrypt(bytes(sealed))


def test_dropping_the_final_chunk_is_detected() -> None:
    sealed = encrypt(bytes(3 * CHUNK + 5))
    block = CHUNK + TAG
    truncated = sealed[: HEADER.size + 3 * block]  # the three full chunks, no final one
    with pytest.raises(DecryptionFailed, match="authentication failed at chunk 2"):
        decrypt(truncated)


def test_reordered_chunks_are_detected() -> None:
    sealed = encrypt(bytes(range(256)) * 2)
    block = CHUNK + TAG
    body = sealed[HEADER.size :]
    swapped = sealed[: HEADER.size] + body[block : 2 * block] + body[:block] + body[2 * block :]
    with pytest.raises(DecryptionFailed, match="authentication failed"):
        decrypt(swapped)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "ends inside its header"),
        (b"TPBKENC1" + bytes(10), "ends inside its header"),
        (b"NOTMAGIC" + bytes(HEADER.size), "bad magic"),
    ],
)
def test_malformed_headers(data: bytes, message: str) -> None:
    with pytest.raises(DecryptionFailed, match=message):
        decrypt(data)


def test_header_without_chunks_is_truncated() -> None:
    with pytest.raises(DecryptionFailed, match="final chunk is missing"):
        decrypt(encrypt(b"abc")[: HEADER.size + 4])


def test_a_wrong_key_is_named_as_such() -> None:
    with pytest.raises(
        DecryptionFailed, match=r"wrong key: the object was encrypted with key id \w+"
    ):
        decrypt(encrypt(b"secret"), OTHER_KEY)


def test_a_zero_chunk_size_in_the_header_is_refused() -> None:
    sealed = bytearray(encrypt(b"x"))
    sealed[HEADER.size - 4 : HEADER.size] = bytes(4)
    with pytest.raises(DecryptionFailed, match="invalid chunk size 0"):
        decrypt(bytes(sealed))


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "K: not set"),
        ({"K": "   "}, "K: not set"),
        ({"K": "not base64!"}, "K: must be 32 random bytes, base64-encoded"),
        ({"K": "c2hvcnQ="}, "K: must be 32 random bytes"),
    ],
)
def test_keys_are_checked_with_one_line(env: dict[str, str], message: str) -> None:
    with pytest.raises(KeyProblem, match=message) as caught:
        load_key("K", env)
    assert "\n" not in str(caught.value)


def test_key_ids_differ_and_hide_the_key() -> None:
    first, second = load_key("K", {"K": KEY}), load_key("K", {"K": OTHER_KEY})
    assert first.key_id != second.key_id
    assert len(first.key_id) == 16
    assert KEY not in repr(first)


def _decrypt_cli(source: Path, target: Path, key: str | None) -> subprocess.CompletedProcess[str]:
    """``python -m ops.backup decrypt SOURCE TARGET`` with ``key`` in BACKUP_ENCRYPTION_KEY."""
    env = subprocess_env({"BACKUP_ENCRYPTION_KEY": key} if key else {})
    return subprocess.run(
        [sys.executable, "-m", "ops.backup", "decrypt", str(source), str(target)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def test_the_runbook_decrypt_command(tmp_path: Path) -> None:
    data = random.Random(7).randbytes(3 * 1024 * 1024 + 11)
    source, target = tmp_path / "x.enc", tmp_path / "x"
    source.write_bytes(encrypt(data, chunk=1024 * 1024))
    done = _decrypt_cli(source, target, KEY)
    assert done.returncode == 0, done.stderr
    assert target.read_bytes() == data
    tampered = tmp_path / "tampered.enc"
    tampered.write_bytes(flip_byte(source.read_bytes()))
    cases = [
        (source, None, CANNOT_RUN, "BACKUP_ENCRYPTION_KEY: not set"),
        (source, "c2hvcnQ=", CANNOT_RUN, "BACKUP_ENCRYPTION_KEY: must be 32 random bytes"),
        (source, OTHER_KEY, CHECK_FAILED, "wrong key"),
        (tampered, KEY, CHECK_FAILED, f"object {tampered}: authentication failed at chunk"),
    ]
    for encrypted, key, code, message in cases:
        failed = _decrypt_cli(encrypted, tmp_path / "y", key)
        assert failed.returncode == code, failed.stderr
        assert message in failed.stderr
        assert len(failed.stderr.strip().splitlines()) == 1
        assert not (tmp_path / "y").exists()
    missing = _decrypt_cli(tmp_path / "nothing", target, KEY)
    assert (missing.returncode, missing.stderr.strip()) == (
        CANNOT_RUN,
        f"error: {tmp_path / 'nothing'}: no such file",
    )
    unwritable = _decrypt_cli(source, tmp_path / "no" / "such" / "dir", KEY)
    assert unwritable.returncode == CANNOT_RUN
    assert unwritable.stderr.startswith(f"error: {tmp_path / 'no' / 'such' / 'dir'}: ")
