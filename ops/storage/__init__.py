"""Backup storage: one interface (:class:`Storage`), a directory and an S3 backend."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from ops.environments import EnvironmentDefinition
from ops.project import ROOT
from ops.storage.base import ObjectInfo, ObjectMissing, Storage, StorageError, join_key
from ops.storage.local import LocalStorage

if TYPE_CHECKING:
    from ops.storage.s3 import S3Settings

__all__ = [
    "LocalStorage",
    "ObjectInfo",
    "ObjectMissing",
    "Storage",
    "StorageError",
    "join_key",
    "open_storage",
    "s3_settings",
]


def s3_settings(environment: EnvironmentDefinition, env: Mapping[str, str]) -> S3Settings:
    """The S3 settings of an environment: the endpoint URL from the variable it names,
    credentials from ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_SESSION_TOKEN``
    when set in ``env``, else boto3's standard chain (profiles, instance roles)."""
    from ops.storage.s3 import MiB, S3Settings  # boto3 is imported only when S3 is used

    backup = environment.backup
    if not backup.s3_bucket:
        raise StorageError(f"environment {environment.name!r}: backup.s3_bucket is not set")
    return S3Settings(
        bucket=backup.s3_bucket,
        prefix=backup.s3_prefix,
        region=backup.s3_region,
        endpoint_url=env.get(backup.s3_endpoint_url_env) or None,
        part_size=backup.s3_part_size_mib * MiB,
        access_key_id=env.get("AWS_ACCESS_KEY_ID") or None,
        secret_access_key=env.get("AWS_SECRET_ACCESS_KEY") or None,
        session_token=env.get("AWS_SESSION_TOKEN") or None,
    )


def open_storage(environment: EnvironmentDefinition, env: Mapping[str, str]) -> Storage:
    """The backup storage an environment defines (``backup.storage``); S3 settings and
    credentials come from ``env`` (see :func:`s3_settings`)."""
    if environment.backup.storage == "s3":
        from ops.storage.s3 import S3Storage

        return S3Storage(s3_settings(environment, env))
    return LocalStorage(ROOT / environment.backup.local_dir)
