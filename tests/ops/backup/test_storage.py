"""Both storage backends behave alike; S3 failures are one line naming endpoint and bucket."""

from __future__ import annotations

import io
import random
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from ops.core.commands import CommandFailed
from ops.storage import LocalStorage, ObjectMissing, Storage, StorageError
from ops.storage.s3 import (
    DEFAULT_PART,
    MAX_PART,
    MIN_PART,
    MiB,
    S3Settings,
    S3Storage,
    check_part_size,
    max_object_size,
)
from tests.support.s3 import BUCKET, S3Server
from tests.support.workspace import Workspace

GiB = 1024 * MiB


class Stream(io.RawIOBase):
    """A non-seekable stream of ``size`` pseudo-random bytes (like pg_dump's stdout),
    failing after ``fail_after`` bytes when set."""

    def __init__(self, size: int, fail_after: int | None = None) -> None:
        super().__init__()
        self.data = random.Random(size).randbytes(size)
        self.position = 0
        self.fail_after = fail_after

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self.fail_after is not None and self.position >= self.fail_after:
            raise CommandFailed("source failed mid-stream")
        count = min(len(buffer), len(self.data) - self.position)
        buffer[:count] = self.data[self.position : self.position + count]
        self.position += count
        return count


def s3_storage(server: S3Server, prefix: str, **overrides: object) -> S3Storage:
    settings = {
        "bucket": BUCKET,
        "prefix": prefix,
        "endpoint_url": server.endpoint,
        "region": "us-east-1",
        "part_size": MIN_PART,
        "max_attempts": 1,
        **overrides,
    }
    return S3Storage(S3Settings(**settings))  # type: ignore[arg-type]


@pytest.fixture(params=["local", "s3"])
def storage(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    workspace: Workspace,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Storage]:
    assert workspace.s3 is not None
    for key, value in workspace.s3.env().items():
        monkeypatch.setenv(key, value)
    if request.param == "local":
        yield LocalStorage(tmp_path / "store")
    else:
        yield s3_storage(workspace.s3, f"storage-{tmp_path.name}")


def test_round_trip_list_head_delete(storage: Storage) -> None:
    storage.check()
    size = storage.put("env/db/1/payload", Stream(3 * MiB + 5))  # type: ignore[arg-type]
    assert size == 3 * MiB + 5
    storage.put_bytes("env/db/1/manifest.json", b"{}")
    storage.put_bytes("env/db/2/manifest.json", b"{}")
    storage.put_bytes("env/config/3/manifest.json", b"{}")
    sink = io.BytesIO()
    assert storage.get("env/db/1/payload", sink) == size
    assert sink.getvalue() == Stream(3 * MiB + 5).data
    assert [o.key for o in storage.list("env/db/")] == [
        "env/db/1/manifest.json",
        "env/db/1/payload",
        "env/db/2/manifest.json",
    ]
    head = storage.head("env/db/1/payload")
    assert head is not None
    assert head.size == size
    assert storage.head("env/db/1/nothing") is None
    storage.delete("env/db/1/payload")
    assert storage.head("env/db/1/payload") is None
    assert storage.get_bytes("env/config/3/manifest.json") == b"{}"
    assert storage.list("other/") == []


def test_missing_objects(storage: Storage) -> None:
    with pytest.raises(ObjectMissing, match="no object env/x"):
        storage.get("env/x", io.BytesIO())
    with pytest.raises(ObjectMissing, match="no object env/x"):
        storage.get_bytes("env/x")


@pytest.mark.parametrize("key", ["", "/abs", "a/../b", "a//b", "./a"])
def test_unsafe_keys_are_refused(storage: Storage, key: str) -> None:
    with pytest.raises(StorageError, match="invalid object key"):
        storage.put_bytes(key, b"x")


def test_a_failing_source_leaves_no_object(storage: Storage) -> None:
    with pytest.raises(CommandFailed, match="source failed mid-stream"):
        storage.put("env/db/9/payload", Stream(12 * MiB, fail_after=6 * MiB))  # type: ignore[arg-type]
    assert storage.list("env/") == []


def test_conditional_writes_hold_only_while_the_tag_does(storage: Storage) -> None:
    assert storage.get_tagged("locks/a.json") is None
    assert storage.put_if_absent("locks/a.json", b"first")
    assert not storage.put_if_absent("locks/a.json", b"second"), "it exists: not created"
    first = storage.get_tagged("locks/a.json")
    assert first is not None
    assert first.data == b"first"
    assert storage.replace_if("locks/a.json", b"third", first.tag)
    assert not storage.replace_if("locks/a.json", b"fourth", first.tag), "changed since read"
    third = storage.get_tagged("locks/a.json")
    assert third is not None
    assert third.data == b"third"
    assert not storage.delete_if("locks/a.json", first.tag)
    assert storage.get_bytes("locks/a.json") == b"third"
    assert storage.delete_if("locks/a.json", third.tag)
    assert storage.get_tagged("locks/a.json") is None
    assert not storage.replace_if("locks/a.json", b"x", third.tag), "gone: nothing replaced"
    assert not storage.delete_if("locks/a.json", third.tag)
    assert storage.list("locks/") == [], "no partial file is left behind"


def test_of_racing_conditional_writers_exactly_one_wins(storage: Storage) -> None:
    def race(write: Callable[[int], bool]) -> list[int]:
        with ThreadPoolExecutor(max_workers=8) as pool:
            won = list(pool.map(write, range(8)))
        return [writer for writer, ok in enumerate(won) if ok]

    created = race(lambda writer: storage.put_if_absent("race/k", f"{writer}".encode()))
    assert len(created) == 1
    assert storage.get_bytes("race/k") == f"{created[0]}".encode()
    read = storage.get_tagged("race/k")
    assert read is not None
    replaced = race(lambda writer: storage.replace_if("race/k", f"r{writer}".encode(), read.tag))
    assert len(replaced) == 1
    assert storage.get_bytes("race/k") == f"r{replaced[0]}".encode()


def test_a_conditional_write_to_a_missing_bucket_is_one_line(
    s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in s3_server.env().items():
        monkeypatch.setenv(key, value)
    storage = s3_storage(s3_server, "x", bucket="no-such-bucket")
    # (SeaweedFS creates a missing bucket on a PUT by an admin: check() is the gate.)
    for attempt, what in (
        (lambda: storage.get_tagged("k"), "download k"),
        (lambda: storage.delete_if("k", '"tag"'), "delete k"),
    ):
        with pytest.raises(StorageError, match=f"{what}: bucket does not exist$") as caught:
            attempt()
        assert "\n" not in str(caught.value)


def test_a_conditional_write_to_an_unwritable_directory_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    storage = LocalStorage(tmp_path / "file" / "store")
    with pytest.raises(StorageError, match=r"^directory .*/file/store: create k: ") as caught:
        storage.put_if_absent("k", b"x")
    assert "\n" not in str(caught.value)


def test_streams_of_unknown_size_upload_in_parts(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert workspace.s3 is not None
    for key, value in workspace.s3.env().items():
        monkeypatch.setenv(key, value)
    storage = s3_storage(workspace.s3, f"parts-{tmp_path.name}")
    assert storage.put("big", Stream(12 * MiB)) == 12 * MiB  # type: ignore[arg-type]
    head = workspace.s3.client().head_object(Bucket=BUCKET, Key=f"parts-{tmp_path.name}/big")
    assert head["ETag"].strip('"').endswith("-3")  # a multipart upload of three 5 MiB parts
    config = storage.transfer_config()
    assert config.multipart_chunksize == MIN_PART
    assert config.max_in_memory_upload_chunks == 4


def test_part_size_arithmetic() -> None:
    assert max_object_size(8 * MiB) == 80_000 * MiB  # boto3's default: 78 GiB for a stream
    assert max_object_size(DEFAULT_PART) == 625 * GiB
    assert max_object_size(MAX_PART) == 50_000 * GiB
    assert check_part_size(MIN_PART) == MIN_PART
    for bad in (MIN_PART - 1, MAX_PART + 1):
        with pytest.raises(StorageError, match=r"outside 5 MiB\.\.5 GiB"):
            check_part_size(bad)


def _one_line_error(storage: Storage) -> str:
    with pytest.raises(StorageError) as caught:
        storage.check()
    text = str(caught.value)
    assert "\n" not in text
    assert "Traceback" not in text
    return text


def test_wrong_credentials(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in s3_server.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret")
    text = _one_line_error(s3_storage(s3_server, "x"))
    assert text.startswith(f"S3 {s3_server.endpoint} bucket {BUCKET}")
    assert "access denied" in text
    assert "wrong-secret" not in text
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKUNKNOWN")
    assert "access denied" in _one_line_error(s3_storage(s3_server, "x"))


def test_missing_bucket(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in s3_server.env().items():
        monkeypatch.setenv(key, value)
    text = _one_line_error(s3_storage(s3_server, "x", bucket="no-such-bucket"))
    assert text.endswith("bucket does not exist")
    assert "bucket no-such-bucket" in text


def test_unreachable_endpoint(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in s3_server.env().items():
        monkeypatch.setenv(key, value)
    storage = s3_storage(s3_server, "x", endpoint_url="http://127.0.0.1:9")
    text = _one_line_error(storage)
    assert (
        text
        == f"S3 http://127.0.0.1:9 bucket {BUCKET} (s3://{BUCKET}/x): check: endpoint unreachable"
    )


def test_no_credentials(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in s3_server.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    assert "no usable AWS credentials" in _one_line_error(s3_storage(s3_server, "x"))


def test_an_unwritable_local_root(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(StorageError, match=r"directory .*file/store"):
        LocalStorage(tmp_path / "file" / "store").check()


def test_an_upload_with_wrong_credentials_is_one_line(
    s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in s3_server.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret")
    storage = s3_storage(s3_server, "x")
    with pytest.raises(StorageError, match=r"upload big: access denied") as caught:
        storage.put("big", Stream(6 * MiB))  # type: ignore[arg-type]
    assert "\n" not in str(caught.value)
    with pytest.raises(StorageError, match=r"upload small: access denied"):
        storage.put_bytes("small", b"x")


def test_problem_texts() -> None:
    from botocore.exceptions import ClientError, ReadTimeoutError

    from ops.storage.s3 import _client_problem, _core_problem, _safe_endpoint

    assert _safe_endpoint(None) == "AWS"
    with_userinfo = "https://user:pw@minio.local:9000"  # pragma: allowlist secret
    assert _safe_endpoint(with_userinfo) == "https://minio.local:9000"
    error = ClientError({"Error": {"Code": "SlowDown", "Message": "Reduce your rate"}}, "PutObject")
    assert _client_problem("SlowDown", error).startswith("An error occurred (SlowDown)")
    assert _client_problem("", Exception("")) == "Exception"
    assert _core_problem(ReadTimeoutError(endpoint_url="http://x")) == "timed out"
