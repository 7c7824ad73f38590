"""The deploy lock of Railway (a remote platform off Kubernetes): an object in the backup
storage, created only when absent, taken over when stale only at the tag read, released
only by its holder -- on a directory and on a real S3 server (SeaweedFS)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import pytest

from ops.deploy.bucket_lock import StorageLock
from ops.deploy.context import DeployContext
from ops.deploy.lock import DeployLock, LockHeld
from ops.deploy.platforms.railway import RailwayPlatform
from ops.environments import load_environment
from ops.storage import LocalStorage, Storage
from ops.storage.s3 import S3Settings, S3Storage
from tests.ops.deploy.recorder import railway_environment
from tests.support import s3

KEY = "deploy-lock/staging.json"


def bucket(server: s3.S3Server, prefix: str, endpoint: str | None = None) -> S3Storage:
    return S3Storage(S3Settings(
        bucket=s3.BUCKET, prefix=prefix, region=s3.REGION,
        endpoint_url=endpoint or server.endpoint, max_attempts=1,
        access_key_id=server.access_key, secret_access_key=server.secret_key,
    ))  # fmt: skip


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    if request.param == "local":
        yield LocalStorage(tmp_path / "store")
    else:
        server: s3.S3Server = request.getfixturevalue("s3_server")
        yield bucket(server, f"lock-{tmp_path.name}")


def holder(storage: Storage) -> dict[str, str]:
    return dict(json.loads(storage.get_bytes(KEY)))


def test_one_deploy_holds_the_lock_and_a_second_is_refused_naming_it(storage: Storage) -> None:
    first = StorageLock(storage, "staging")
    info = first.acquire("v2", "ship it")
    kept = holder(storage)
    assert (kept["holder"], kept["version"], kept["message"]) == (info.holder, "v2", "ship it")
    lasts = datetime.fromisoformat(kept["expires_at"]) - datetime.fromisoformat(info.started_at)
    assert lasts.total_seconds() == 3600, "a Lease's duration: longer than any deploy job"
    with pytest.raises(LockHeld, match=rf"^deploy lock {KEY} in .* is held by .*@.* \(pid \d+\) "
                                       r"deploying v2 since .*: ship it$"):  # fmt: skip
        StorageLock(storage, "staging").acquire("v3", "too")
    assert StorageLock(storage, "staging").read() == info
    first.release()
    assert storage.get_tagged(KEY) is None
    assert StorageLock(storage, "staging").acquire("v3", "now").version == "v3"
    assert StorageLock(storage, "production").acquire("v3", "elsewhere").version == "v3"


def test_a_stale_lock_is_taken_over_with_a_note(storage: Storage) -> None:
    StorageLock(storage, "staging", seconds=-60).acquire("v1", "gone")  # expired
    taker = StorageLock(storage, "staging")
    taker.acquire("v2", "after")
    assert holder(storage)["version"] == "v2"
    assert taker.notes[0].startswith("took over a stale lock: ")
    assert "deploying v1" in taker.notes[0]


def race(storage: Storage) -> list[str]:
    """Six deploys take the lock at once; the messages of those that got it."""

    def take(n: int) -> str | None:
        try:
            return StorageLock(storage, "staging").acquire(f"v{n}", f"racer {n}").message
        except LockHeld:
            return None

    with ThreadPoolExecutor(max_workers=6) as pool:
        return [message for message in pool.map(take, range(6)) if message]


def test_of_racing_takers_exactly_one_wins(storage: Storage) -> None:
    won = race(storage)
    assert len(won) == 1, won
    assert holder(storage)["message"] == won[0]
    StorageLock(storage, "staging").force_release()
    StorageLock(storage, "staging", seconds=-60).acquire("v0", "gone")
    won = race(storage)
    assert len(won) == 1, f"{won} all took over the same stale lock"
    assert holder(storage)["message"] == won[0]


def test_release_leaves_someone_elses_lock_and_unlock_removes_any(storage: Storage) -> None:
    ours = StorageLock(storage, "staging")
    ours.acquire("v1", "x")
    storage.delete(KEY)
    StorageLock(storage, "staging").acquire("v2", "y")
    ours.release()
    assert holder(storage)["version"] == "v2", "not ours: left alone"
    held = StorageLock(storage, "staging").force_release()
    assert held is not None
    assert held.version == "v2"
    assert StorageLock(storage, "staging").read() is None
    assert StorageLock(storage, "staging").force_release() is None


def test_an_unreadable_lock_counts_as_held(storage: Storage) -> None:
    storage.put_bytes(KEY, b"not json")
    lock = StorageLock(storage, "staging")
    found = lock.read()
    assert found is not None
    assert found.message == f"unreadable {lock.where}"
    assert not found.is_stale()
    with pytest.raises(LockHeld, match=r"unreadable deploy-lock/staging\.json"):
        lock.acquire("v1", "x")


def test_a_lock_that_cannot_be_released_is_noted_not_raised(
    tmp_path: Path, s3_server: s3.S3Server
) -> None:
    lock = StorageLock(bucket(s3_server, f"lost-{tmp_path.name}"), "staging")
    lock.acquire("v1", "x")
    lock.storage = bucket(s3_server, f"lost-{tmp_path.name}", endpoint="http://127.0.0.1:9")
    lock.release()
    assert lock.notes[-1].startswith("lock not released: S3 http://127.0.0.1:9 bucket ")
    assert lock.notes[-1].endswith("endpoint unreachable")
    assert lock.info is None


def test_railway_locks_in_its_backup_storage_the_local_platform_with_a_file(
    tmp_path: Path, s3_server: s3.S3Server
) -> None:
    railway, env = railway_environment(tmp_path), s3_server.env()
    lock = DeployContext(railway, {}, RailwayPlatform(railway, {}, env), env).deploy_lock()
    assert isinstance(lock, StorageLock)
    assert isinstance(lock.storage, S3Storage)
    assert lock.key == KEY
    assert lock.where.startswith(f"{KEY} in S3 {s3_server.endpoint} bucket {s3.BUCKET} ")
    local = load_environment("local")
    file_lock = DeployContext(local, {}, RailwayPlatform(local, {}, {}), {}).deploy_lock()
    assert isinstance(file_lock, DeployLock)
