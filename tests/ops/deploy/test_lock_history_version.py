"""The deploy lock, the deploy history and version labels."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from ops.core.exits import CANNOT_RUN
from ops.core.steps import Step
from ops.deploy.history import DeployHistory, DeployRecord
from ops.deploy.lock import DeployLock, LockHeld, force_release, read_lock
from ops.deploy.version import VersionError, resolve_version


def _holder(pid: int, host: str | None = None) -> dict[str, object]:
    return {
        "holder": "ana", "host": host or socket.gethostname(), "pid": pid,
        "version": "v7", "started_at": "2026-01-01T00:00:00+00:00", "message": "hotfix",
    }  # fmt: skip


def test_lock_is_exclusive_and_names_its_holder(tmp_path: Path) -> None:
    path = tmp_path / "deploy.lock"
    first = DeployLock(path)
    info = first.acquire("v1", "first")
    assert read_lock(path) == info
    with pytest.raises(LockHeld, match=r"is held by .* deploying v1 .*: first") as held:
        DeployLock(path).acquire("v2", "second")
    assert held.value.exit_code == CANNOT_RUN, "a held lock is a refusal"
    first.release()
    assert read_lock(path) is None
    DeployLock(path).acquire("v2", "second")


def test_waiting_for_a_held_lock_gives_up_after_the_timeout(tmp_path: Path) -> None:
    path = tmp_path / "deploy.lock"
    path.write_text(json.dumps(_holder(os.getpid())))
    with pytest.raises(LockHeld, match="hotfix"):
        DeployLock(path).acquire("v2", "waiting", wait_seconds=0.6)


def test_stale_lock_of_a_dead_process_is_released_with_a_note(tmp_path: Path) -> None:
    path = tmp_path / "deploy.lock"
    path.write_text(json.dumps(_holder(2**22 + 777)))
    lock = DeployLock(path)
    lock.acquire("v2", "after a crash")
    assert lock.notes[0].startswith("released a stale lock: ana@")


def test_a_lock_from_another_host_is_never_stale(tmp_path: Path) -> None:
    path = tmp_path / "deploy.lock"
    path.write_text(json.dumps(_holder(2**22 + 777, host="elsewhere")))
    holder = read_lock(path)
    assert holder is not None
    assert not holder.is_stale()
    with pytest.raises(LockHeld):
        DeployLock(path).acquire("v2", "x")
    assert force_release(path) == holder
    assert not path.exists()


def test_unreadable_lock_counts_as_held(tmp_path: Path) -> None:
    path = tmp_path / "deploy.lock"
    path.write_text("{not json")
    with pytest.raises(LockHeld, match="unreadable lock"):
        DeployLock(path).acquire("v1", "x")


def _record(version: str, result: str) -> DeployRecord:
    return DeployRecord(
        id=version, action="deploy", environment="e", version=version, previous=None,
        who="ana", started_at="t", result=result, steps=[Step("lock", True, 0.1, "held")],
    )  # fmt: skip


def test_history_appends_and_finds_the_last_good_release(tmp_path: Path) -> None:
    history = DeployHistory(tmp_path)
    for version, result in (("v1", "succeeded"), ("v2", "succeeded"), ("v3", "failed")):
        history.append(_record(version, result))
    with (tmp_path / "history.jsonl").open("a") as handle:
        handle.write('{"torn": ')  # a crash mid-write
    records = history.records()
    assert [r["version"] for r in records] == ["v1", "v2", "v3"]
    assert records[0]["steps"] == [{"name": "lock", "ok": True, "seconds": 0.1, "detail": "held"}]
    assert history.last_good() == "v2"
    assert history.last_good(exclude="v2") == "v1"
    assert DeployHistory(tmp_path / "missing").last_good() is None


def test_the_log_of_its_earlier_name_is_adopted(tmp_path: Path) -> None:
    (tmp_path / "audit.jsonl").write_text(json.dumps(_record("v1", "succeeded").to_dict()) + "\n")
    assert DeployHistory(tmp_path).last_good() == "v1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.jsonl"]


def test_versions() -> None:
    assert resolve_version("v1.2_rc-3") == "v1.2_rc-3"
    with pytest.raises(VersionError, match="is invalid") as invalid:
        resolve_version("../etc")
    assert invalid.value.exit_code == CANNOT_RUN
    sha = resolve_version()
    assert len(sha.removesuffix("-dirty")) == 12


def test_dirty_tree_is_marked(tmp_path: Path) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    git("config", "user.email", "t@example.com")
    git("config", "user.name", "t")
    (tmp_path / "f.txt").write_text("1")
    git("add", "f.txt")
    git("commit", "-qm", "one")
    assert not resolve_version(source=tmp_path).endswith("-dirty")
    (tmp_path / "f.txt").write_text("2")
    assert resolve_version(source=tmp_path).endswith("-dirty")
    elsewhere = Path(tempfile.mkdtemp())
    with pytest.raises(VersionError, match=r"^no version for .*: git rev-parse"):
        resolve_version(source=elsewhere)
