"""S3 (AWS or any S3-compatible store) as backup storage, through boto3.

Credentials come from the standard AWS chain (``AWS_ACCESS_KEY_ID`` /
``AWS_SECRET_ACCESS_KEY``, profiles, instance roles); the endpoint, bucket,
prefix and region from the environment definition. Every botocore failure
becomes one :class:`StorageError` line naming the endpoint and bucket.

Part size arithmetic. A multipart upload has at most 10,000 parts of
5 MiB to 5 GiB each. For a seekable file of known size s3transfer raises the
part size until the file fits, but a stream of unknown size -- pg_dump's
standard output -- is cut into parts of exactly ``multipart_chunksize``, so
boto3's default of 8 MiB caps a streamed object at 8 MiB x 10,000 = 78 GiB.
The default here is 64 MiB, which allows 625 GiB; s3transfer keeps at most
``IN_MEMORY_PARTS`` parts of a stream in memory, so an upload uses at most
64 MiB x 4 = 256 MiB of RAM. Raise ``backup.s3_part_size_mib`` for larger
databases (``max_object_size`` gives the cap of a part size).

Conditional writes are S3's conditional requests: ``PutObject`` with ``If-None-Match: *``
(create only) or ``If-Match: <ETag>`` (replace only that content), ``DeleteObject`` with
``If-Match``; a 412 (or 409, a concurrent conditional write; or 404, gone) means the
condition did not hold. AWS honours all three (conditional deletes in general purpose
buckets since 2025-09), and so does SeaweedFS (tests/ops/backup/test_storage.py and
tests/ops/deploy/test_bucket_lock.py race them against it). A server that ignored them
would make the lock unsafe.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO

import boto3
from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
    ReadTimeoutError,
)

from ops.core.exits import one_line
from ops.storage.base import (
    CHUNK,
    ObjectInfo,
    ObjectMissing,
    StorageError,
    Tagged,
    check_key,
    join_key,
)

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

MiB = 1024 * 1024
MAX_PARTS = 10_000
MIN_PART = 5 * MiB
MAX_PART = 5 * 1024 * MiB
DEFAULT_PART = 64 * MiB
IN_MEMORY_PARTS = 4
_DENIED = {
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "403",
}
_NO_BUCKET = {"NoSuchBucket", "404"}
# A conditional request's condition did not hold (never a missing bucket: that fails).
_NOT_MET = {"PreconditionFailed", "412", "ConditionalRequestConflict", "409", "NoSuchKey"}


def max_object_size(part_size: int) -> int:
    """The largest object a stream of unknown size can become with ``part_size`` parts."""
    return part_size * MAX_PARTS


def check_part_size(part_size: int) -> int:
    """``part_size`` if S3 accepts it for every part but the last, else raise."""
    if not MIN_PART <= part_size <= MAX_PART:
        raise StorageError(f"S3 part size {part_size} is outside 5 MiB..5 GiB")
    return part_size


@dataclass(frozen=True, slots=True)
class S3Settings:
    """Where the objects go and how they are transferred."""

    bucket: str
    prefix: str = ""
    region: str | None = None
    endpoint_url: str | None = None
    part_size: int = DEFAULT_PART
    concurrency: int = IN_MEMORY_PARTS
    max_attempts: int = 3
    connect_timeout: float = 5
    read_timeout: float = 60
    # Explicit credentials (from the environment mapping given); None: the standard chain.
    access_key_id: str | None = field(default=None, repr=False)
    secret_access_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)


class S3Storage:
    """Objects under ``prefix`` in ``bucket``."""

    def __init__(self, settings: S3Settings, client: S3Client | None = None) -> None:
        self.settings = settings
        check_part_size(settings.part_size)
        self.client: S3Client = client or _client(settings)

    @property
    def description(self) -> str:
        """Endpoint and bucket (and prefix) for messages."""
        endpoint = _safe_endpoint(self.settings.endpoint_url)
        where = f"s3://{self.settings.bucket}/{self.settings.prefix}".rstrip("/")
        return f"S3 {endpoint} bucket {self.settings.bucket} ({where})"

    def _key(self, key: str) -> str:
        return join_key(self.settings.prefix, check_key(key))

    def transfer_config(self) -> TransferConfig:
        """Multipart settings: parts of ``part_size``, at most ``concurrency`` in memory."""
        config = TransferConfig(
            multipart_threshold=self.settings.part_size,
            multipart_chunksize=self.settings.part_size,
            max_concurrency=self.settings.concurrency,
            preferred_transfer_client="classic",
        )
        config.max_in_memory_upload_chunks = self.settings.concurrency
        return config

    @contextmanager
    def _translated(self, what: str) -> Iterator[None]:
        try:
            yield
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            raise StorageError(
                f"{self.description}: {what}: {_client_problem(code, error)}"
            ) from None
        except S3UploadFailedError as error:
            match = re.search(r"\((\w+)\)", str(error))
            code = match.group(1) if match else ""
            raise StorageError(
                f"{self.description}: {what}: {_client_problem(code, error)}"
            ) from None
        except BotoCoreError as error:
            raise StorageError(f"{self.description}: {what}: {_core_problem(error)}") from None

    def check(self) -> None:
        """The bucket exists and the credentials may use it."""
        with self._translated("check"):
            self.client.head_bucket(Bucket=self.settings.bucket)

    def put(self, key: str, source: BinaryIO) -> int:
        """Upload ``source`` (multipart when larger than one part); return the size."""
        counter = _CountingReader(source)
        with self._translated(f"upload {key}"):
            self.client.upload_fileobj(
                counter,  # type: ignore[arg-type]  # a readable stream is what it takes
                self.settings.bucket,
                self._key(key),
                Config=self.transfer_config(),
            )
        return counter.size

    def put_bytes(self, key: str, data: bytes) -> None:
        """Upload a small object in one request."""
        with self._translated(f"upload {key}"):
            self.client.put_object(Bucket=self.settings.bucket, Key=self._key(key), Body=data)

    def get(self, key: str, sink: BinaryIO) -> int:
        """Stream the object into ``sink``."""
        size = 0
        with self._translated(f"download {key}"), self._missing_as(key):
            body = self.client.get_object(Bucket=self.settings.bucket, Key=self._key(key))["Body"]
            for chunk in body.iter_chunks(CHUNK):
                sink.write(chunk)
                size += len(chunk)
        return size

    def get_bytes(self, key: str) -> bytes:
        """A small object's content."""
        with self._translated(f"download {key}"), self._missing_as(key):
            body = self.client.get_object(Bucket=self.settings.bucket, Key=self._key(key))["Body"]
            return body.read()

    @contextmanager
    def _missing_as(self, key: str) -> Iterator[None]:
        try:
            yield
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                raise ObjectMissing(f"{self.description}: no object {key}") from None
            raise

    def head(self, key: str) -> ObjectInfo | None:
        """Size and mtime, or None for a missing object."""
        try:
            with self._translated(f"head {key}"), self._missing_as(key):
                found = self.client.head_object(Bucket=self.settings.bucket, Key=self._key(key))
        except ObjectMissing:
            return None
        return ObjectInfo(key, int(found["ContentLength"]), found["LastModified"])

    def list(self, prefix: str) -> list[ObjectInfo]:
        """Every object under ``prefix`` (paginated)."""
        root = join_key(self.settings.prefix)
        full = f"{root}/{prefix}" if root else prefix
        found: list[ObjectInfo] = []
        with self._translated(f"list {prefix or '/'}"):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.settings.bucket, Prefix=full
            )
            for page in pages:
                for item in page.get("Contents", []):
                    key = item["Key"][len(root) + 1 :] if root else item["Key"]
                    found.append(ObjectInfo(key, int(item["Size"]), item["LastModified"]))
        return sorted(found, key=lambda info: info.key)

    def delete(self, key: str) -> None:
        """Delete one object."""
        with self._translated(f"delete {key}"):
            self.client.delete_object(Bucket=self.settings.bucket, Key=self._key(key))

    def get_tagged(self, key: str) -> Tagged | None:
        """The object's content and ETag from one GET, or None for a missing object."""
        try:
            with self._translated(f"download {key}"), self._missing_as(key):
                found = self.client.get_object(Bucket=self.settings.bucket, Key=self._key(key))
                return Tagged(found["Body"].read(), found["ETag"])
        except ObjectMissing:
            return None

    def put_if_absent(self, key: str, data: bytes) -> bool:
        """``PutObject`` with ``If-None-Match: *``."""
        bucket, name = self.settings.bucket, self._key(key)
        return self._conditional(
            f"create {key}",
            lambda: self.client.put_object(Bucket=bucket, Key=name, Body=data, IfNoneMatch="*"),
        )

    def replace_if(self, key: str, data: bytes, tag: str) -> bool:
        """``PutObject`` with ``If-Match: <tag>``."""
        bucket, name = self.settings.bucket, self._key(key)
        return self._conditional(
            f"replace {key}",
            lambda: self.client.put_object(Bucket=bucket, Key=name, Body=data, IfMatch=tag),
        )

    def delete_if(self, key: str, tag: str) -> bool:
        """``DeleteObject`` with ``If-Match: <tag>``."""
        bucket, name = self.settings.bucket, self._key(key)
        return self._conditional(
            f"delete {key}", lambda: self.client.delete_object(Bucket=bucket, Key=name, IfMatch=tag)
        )

    def _conditional(self, what: str, request: Callable[[], object]) -> bool:
        """Send a conditional request: True when done, False when its condition did not
        hold; any other failure is a :class:`StorageError`."""
        with self._translated(what):
            try:
                request()
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") in _NOT_MET:
                    return False
                raise
        return True


class _CountingReader:
    """A non-seekable reader that counts what passes through it."""

    def __init__(self, source: BinaryIO) -> None:
        self.source = source
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        """The next bytes of the source, counted."""
        data = self.source.read(size)
        self.size += len(data)
        return data

    def readable(self) -> bool:
        """Always."""
        return True

    def seekable(self) -> bool:
        """Never: s3transfer then streams the source part by part."""
        return False


def _client(settings: S3Settings) -> S3Client:
    config = Config(
        retries={"max_attempts": settings.max_attempts, "mode": "standard"},
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        s3={"addressing_style": "path"} if settings.endpoint_url else None,
    )
    session = boto3.session.Session(
        aws_access_key_id=settings.access_key_id,
        aws_secret_access_key=settings.secret_access_key,
        aws_session_token=settings.session_token,
    )
    return session.client(
        "s3", endpoint_url=settings.endpoint_url, region_name=settings.region, config=config
    )


def _safe_endpoint(url: str | None) -> str:
    if not url:
        return "AWS"
    return re.sub(r"//[^/@]*@", "//", url)


def _client_problem(code: str, error: Exception) -> str:
    if code in _DENIED:
        return f"access denied ({code}): check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY"
    if code in _NO_BUCKET:
        return "bucket does not exist"
    return one_line(error) if str(error).strip() or not code else code


def _core_problem(error: BotoCoreError) -> str:
    if isinstance(error, NoCredentialsError | PartialCredentialsError):
        return "no usable AWS credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
    if isinstance(error, EndpointConnectionError | ConnectTimeoutError):
        return "endpoint unreachable"
    if isinstance(error, ReadTimeoutError):
        return "timed out"
    return one_line(error)
