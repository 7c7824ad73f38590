"""Verifying a backup end to end: download every object, check its sha256 and size
against the manifest, decrypt (authenticating every chunk), then test the payload
with its own tool (pg_restore, SQLite's integrity check, a full tar read). The
result is stored beside the backup in verification.json (the manifest is immutable)."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from ops.backup import archives, postgres, sqlite
from ops.backup.catalog import BackupEntry
from ops.backup.context import BackupContext, host
from ops.backup.crypto import EncryptionKey
from ops.backup.database import check_against_manifest
from ops.backup.errors import BackupCannotRun
from ops.backup.layout import VERIFICATION, object_key
from ops.backup.manifest import Manifest, StoredObject, Verification
from ops.backup.transfer import fetch
from ops.core.exits import OpsError


def verify(context: BackupContext, entry: BackupEntry) -> Verification:
    """Verify one complete backup and record the result (pass or fail) in storage."""
    assert entry.manifest is not None
    key = usable_key(context, entry.manifest)  # a key problem is ours, not the backup's
    began = time.monotonic()
    checks: list[str] = []
    problem = None
    try:
        checks = check_backup(context, entry.manifest, key)
    except OpsError as error:  # every expected failure of a check is the backup's problem
        problem = str(error)
    result = Verification(
        backup_id=entry.id, verified_at=context.clock(), ok=problem is None, problem=problem,
        checks=checks, seconds=round(time.monotonic() - began, 3), host=host(),
    )  # fmt: skip
    context.storage.put_bytes(entry.prefix + VERIFICATION, result.to_json())
    entry.verification = result
    return result


def usable_key(context: BackupContext, manifest: Manifest) -> EncryptionKey | None:
    """The key an encrypted backup needs; one-line error when missing or not the one used."""
    key = context.key(needed=manifest.encryption is not None)
    if manifest.encryption and key and key.key_id != manifest.encryption.key_id:
        raise BackupCannotRun(
            f"backup {manifest.id} was encrypted with key id {manifest.encryption.key_id}, "
            f"{context.environment.backup.encryption_key_env} has key id {key.key_id}"
        )
    return key


def check_backup(
    context: BackupContext, manifest: Manifest, key: EncryptionKey | None
) -> list[str]:
    """Every check of one backup; raises a one-line error at the first failure."""
    checks = []
    with tempfile.TemporaryDirectory(prefix="verify-") as directory:
        for stored in manifest.objects:
            name = object_key(manifest.environment, manifest.kind, manifest.id, stored.name)
            plain = fetch(context.storage, name, stored, Path(directory) / "payload", key)
            checks.append(f"{stored.name}: sha256 and size match the manifest")
            if stored.encrypted:
                checks.append(f"{stored.name}: every encrypted chunk authenticated")
            tested = test_payload(manifest, stored, plain, context.env)
            checks += [f"{stored.name}: {check}" for check in tested]
            plain.unlink()
    return checks


def test_payload(
    manifest: Manifest, stored: StoredObject, plain: Path, env: Mapping[str, str]
) -> list[str]:
    """Test a decrypted payload with the tool that reads it (``env``: where to find it)."""
    if stored.format == "pg_dump-custom":
        return postgres.archive_test(postgres.tools(env), plain)
    if stored.format == "tar-gzip":
        return archives.test(plain, manifest.files)
    database = plain.with_name("payload.sqlite3")
    sqlite.decompress(plain, database)
    facts = sqlite.check_database(database)
    database.unlink()
    assert manifest.database is not None
    return [
        "SQLite integrity_check ok",
        *check_against_manifest(manifest.database, facts, "the payload's"),
    ]
