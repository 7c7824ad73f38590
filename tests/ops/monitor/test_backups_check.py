"""The backups check over real backups: ``ops.backup.create`` of a SQLite database whose
size each test chooses, ``ops.backup.verify``, drill reports where the drill task
stores them -- in local storage (and SeaweedFS for the healthy set), with a clock the
test moves (a backup reads it three times, so its duration is two ticks)."""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ops.backup import create
from ops.backup.catalog import scan
from ops.backup.context import BackupContext
from ops.backup.drill_report import DrillReport
from ops.backup.layout import drill_key, new_id, object_key
from ops.backup.manifest import Manifest
from ops.backup.verify import verify
from ops.core.console import Console
from ops.core.exits import CheckFailed
from ops.environments import load_environment
from ops.monitor.checks.backups import backups
from ops.monitor.context import MonitorContext
from ops.monitor.results import Finding, Reason, Status
from ops.monitor.run import monitor
from ops.monitor.settings import Backups, MonitorSettings
from ops.monitor.state import MonitorState
from tests.support.workspace import FakeClock, Workspace

NAME = "shop"
KIB = 1024
USUAL_KIB = 200
USUAL_SECONDS = 120


class TickingClock(FakeClock):
    """A fake clock that moves ``tick`` seconds each time it is read."""

    tick = 0.0

    def __call__(self) -> datetime:
        now = self.now
        self.now += timedelta(seconds=self.tick)
        return now


@dataclass
class Shop:
    """Environment ``shop`` on the local platform: its SQLite database, storage, clock."""

    workspace: Workspace
    clock: TickingClock

    @property
    def database(self) -> Path:
        """The SQLite file the local platform uses for the environment."""
        return self.workspace.sqlite_path(NAME)

    def backup_context(self) -> BackupContext:
        """What the backup tasks work with, on the test's clock."""
        context = self.workspace.context(NAME)
        context.clock = self.clock
        return context

    def back_up(
        self, *, kib: int = USUAL_KIB, seconds: float = USUAL_SECONDS, verified: bool = True
    ) -> Manifest:
        """A real backup of a database holding ``kib`` KiB of incompressible data, taking
        ``seconds``, verified or not; then a day passes."""
        _hold(self.database, kib * KIB)
        context = self.backup_context()
        self.clock.tick = seconds / 2
        try:
            manifest = create.run(context, "db")
        finally:
            self.clock.tick = 0
        if verified:
            verify(context, scan(context.storage, NAME, "db")[-1])
        self.clock.advance(days=1)
        return manifest

    def drill(self, *, days_ago: float, ok: bool = True, failures: tuple[str, ...] = ()) -> None:
        """Store a drill report as the drill task does, finished ``days_ago``."""
        finished = self.clock.now - timedelta(days=days_ago)
        report = DrillReport(
            drill_id=new_id(finished - timedelta(minutes=5)), environment=NAME, ok=ok,
            started_at=finished - timedelta(minutes=5), finished_at=finished,
            rto_target_seconds=120, rpo_target_seconds=3600, failures=list(failures),
        )  # fmt: skip
        key = drill_key(NAME, report.drill_id)
        self.backup_context().storage.put_bytes(key, report.model_dump_json().encode())

    def context(self, **settings: Any) -> MonitorContext:
        """The monitor's context, ``[monitor.backups]`` set to ``settings``."""
        definition = load_environment(NAME, self.workspace.envs)
        monitored = definition.model_copy(
            update={"monitor": MonitorSettings(backups=Backups(**settings))}
        )
        return MonitorContext(monitored, self.workspace.env(), MonitorState(NAME), self.clock)

    def look(self, **settings: Any) -> dict[str, Finding]:
        """One run of the check, by subject."""
        return {f.subject: f for f in backups(self.context(**settings))}


def _hold(path: Path, size: int) -> None:
    """Make the database hold ``size`` bytes of random data (and little else)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(path)) as db:
        db.execute("CREATE TABLE IF NOT EXISTS payload (data BLOB NOT NULL)")
        db.execute("DELETE FROM payload")
        db.execute("INSERT INTO payload VALUES (?)", (os.urandom(size),))
        db.commit()
        db.execute("VACUUM")


def _shop(workspace: Workspace, storage: str = "local") -> Shop:
    workspace.define(NAME, storage=storage)
    return Shop(workspace, TickingClock())


@pytest.fixture
def shop(tmp_path: Path) -> Shop:
    """``shop`` with local backup storage and no backup yet."""
    return _shop(Workspace(tmp_path / "ws"))


def history(shop: Shop, count: int = 3) -> None:
    """``count`` usual daily backups, each verified."""
    for _ in range(count):
        shop.back_up()


def problems(found: dict[str, Finding]) -> dict[str, tuple[Status, Reason | None]]:
    """The subjects that are not ok, with status and reason."""
    return {s: (f.status, f.reason) for s, f in found.items() if f.status is not Status.OK}


@pytest.mark.parametrize("storage", ["local", "s3"])
def test_a_healthy_set_passes(storage: str, request: pytest.FixtureRequest) -> None:
    workspace = (
        request.getfixturevalue("workspace")  # SeaweedFS
        if storage == "s3"
        else Workspace(request.getfixturevalue("tmp_path") / "ws")
    )
    shop = _shop(workspace, storage)
    history(shop, 3)
    newest = shop.back_up()
    shop.clock.now = newest.finished_at + timedelta(hours=2)
    shop.drill(days_ago=2)
    found = shop.look()
    assert list(found) == ["storage", "db", "drill"]
    assert problems(found) == {}
    db = found["db"]
    assert db.summary.startswith(f"{newest.id}: 2.0 h old, ")
    assert db.figures["compared_with"] == 3
    assert db.figures["duration_seconds"] == USUAL_SECONDS
    assert db.figures["verified"] is True
    assert found["drill"].summary.endswith("passed 2.0 days ago")


def test_no_backups_at_all_is_critical_missing(shop: Shop) -> None:
    found = shop.look(kinds=["db", "config"])
    assert problems(found) == {
        "db": (Status.CRITICAL, Reason.MISSING),
        "config": (Status.CRITICAL, Reason.MISSING),
        "drill": (Status.WARNING, Reason.MISSING),
    }
    assert found["db"].summary == "no complete db backup"
    assert found["drill"].summary == "no DR drill report in backup storage"


def test_where_backups_are_not_required_none_at_all_is_ok(shop: Shop) -> None:
    found = shop.look(kinds=["db"], required=False)
    assert problems(found) == {}
    assert found["db"].summary == "no db backup here yet (not required: [monitor.backups])"
    history(shop, 1)
    shop.clock.now += timedelta(days=3)
    stale = shop.look(kinds=["db"], required=False)["db"]
    assert (stale.status, stale.reason) == (Status.CRITICAL, Reason.STALE), "once one exists"


def test_a_backup_that_never_finished_does_not_count(shop: Shop) -> None:
    history(shop, 1)
    unfinished = new_id(shop.clock.now)
    shop.backup_context().storage.put_bytes(
        object_key(NAME, "db", unfinished, "database.sqlite3.gz"), b"partial"
    )
    found = shop.look()["db"]
    assert (found.status, found.reason) == (Status.OK, None)
    assert found.figures["incomplete_since"] == 1
    shop.clock.advance(hours=7)  # 31 h after the only complete one
    assert shop.look()["db"].reason is Reason.STALE


def test_a_stale_backup_is_critical_stale(shop: Shop) -> None:
    history(shop, 3)
    newest = shop.back_up()
    shop.clock.now = newest.finished_at + timedelta(hours=29)
    assert shop.look()["db"].status is Status.OK  # within 24 h + 6 h grace
    shop.clock.now = newest.finished_at + timedelta(hours=31)
    db = shop.look()["db"]
    assert (db.status, db.reason) == (Status.CRITICAL, Reason.STALE)
    assert db.summary == (
        f"{newest.id}: the newest complete backup is 31.0 h old (schedule 24 h + 6 h grace)"
    )


def test_a_backup_a_tenth_the_usual_size_is_critical_threshold(shop: Shop) -> None:
    history(shop, 3)
    small = shop.back_up(kib=USUAL_KIB // 10)
    shop.clock.now = small.finished_at + timedelta(hours=1)
    db = shop.look()["db"]
    assert (db.status, db.reason) == (Status.CRITICAL, Reason.THRESHOLD)
    assert "stored, below 0.5 of the median" in db.summary
    assert "of the 3 before it" in db.summary
    assert int(db.figures["stored_bytes"] or 0) * 8 < int(db.figures["median_bytes"] or 0)


def test_size_is_judged_only_with_enough_history(shop: Shop) -> None:
    history(shop, 1)
    small = shop.back_up(kib=USUAL_KIB // 10)
    shop.clock.now = small.finished_at + timedelta(hours=1)
    assert shop.look()["db"].status is Status.OK  # one earlier backup: min_history is 3
    assert shop.look(min_history=1)["db"].reason is Reason.THRESHOLD


def test_a_backup_much_quicker_than_usual_warns(shop: Shop) -> None:
    history(shop, 3)
    quick = shop.back_up(seconds=8)
    shop.clock.now = quick.finished_at + timedelta(hours=1)
    db = shop.look()["db"]
    assert (db.status, db.reason) == (Status.WARNING, Reason.THRESHOLD)
    assert f"took 8 s, below 0.5 of the median {USUAL_SECONDS} s of the 3 before it" in db.summary
    # Backups that usually take less than min_median_duration_seconds vary too much to judge:
    assert shop.look(min_median_duration_seconds=600)["db"].status is Status.OK


def test_a_failed_verification_is_critical_status(shop: Shop) -> None:
    history(shop, 3)
    newest = shop.back_up(verified=False)
    context = shop.backup_context()
    payload = object_key(NAME, "db", newest.id, newest.objects[0].name)
    context.storage.put_bytes(payload, b"not the backup any more")
    verify(context, scan(context.storage, NAME, "db")[-1])
    shop.clock.now = newest.finished_at + timedelta(hours=1)
    db = shop.look()["db"]
    assert (db.status, db.reason) == (Status.CRITICAL, Reason.STATUS)
    assert "its verification failed: " in db.summary
    assert db.figures["verified"] is False


def test_a_backup_never_verified_warns_missing(shop: Shop) -> None:
    history(shop, 3)
    newest = shop.back_up(verified=False)
    shop.clock.now = newest.finished_at + timedelta(hours=1)
    db = shop.look()["db"]
    assert (db.status, db.reason) == (Status.WARNING, Reason.MISSING)
    assert db.summary == f"{newest.id}: never verified"


def test_an_old_verification_warns_stale(shop: Shop) -> None:
    history(shop, 3)
    newest = shop.back_up()
    shop.clock.now = newest.finished_at + timedelta(hours=3)
    db = shop.look(verification_max_age_hours=2)["db"]
    assert (db.status, db.reason) == (Status.WARNING, Reason.STALE)
    assert "last verified 3.0 h ago (limit 2 h)" in db.summary


def test_every_problem_of_a_kind_is_named_the_worst_first(shop: Shop) -> None:
    history(shop, 3)
    newest = shop.back_up(kib=USUAL_KIB // 10, verified=False)
    shop.clock.now = newest.finished_at + timedelta(hours=40)
    db = shop.look()["db"]
    assert (db.status, db.reason) == (Status.CRITICAL, Reason.STALE)
    assert db.summary.startswith(f"{newest.id}: the newest complete backup is 40.0 h old")
    assert "below 0.5 of the median" in db.summary
    assert db.summary.endswith("; never verified")


def test_an_old_drill_warns_stale(shop: Shop) -> None:
    shop.drill(days_ago=9)
    drill = shop.look()["drill"]
    assert (drill.status, drill.reason) == (Status.WARNING, Reason.STALE)
    assert drill.summary.endswith("the last DR drill was 9.0 days ago (limit 8)")


def test_a_failed_drill_is_critical_status(shop: Shop) -> None:
    shop.drill(days_ago=10, ok=True)
    shop.drill(days_ago=1, ok=False, failures=("restore into the scratch database: exit 1",))
    drill = shop.look()["drill"]
    assert (drill.status, drill.reason) == (Status.CRITICAL, Reason.STATUS)
    assert drill.summary.endswith(
        "the last DR drill failed: restore into the scratch database: exit 1"
    )
    assert drill.figures["ok"] is False


def test_an_unreadable_drill_report_is_unknown(shop: Shop) -> None:
    key = drill_key(NAME, new_id(shop.clock.now))
    shop.backup_context().storage.put_bytes(key, b'{"drill_id": "x"}')
    drill = shop.look()["drill"]
    assert (drill.status, drill.reason) == (Status.UNKNOWN, Reason.BODY)
    assert drill.summary.startswith(f"drill report {key} is unreadable: ")


def test_storage_that_cannot_be_opened_is_unknown_naming_why(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path / "ws")
    workspace.define(NAME, storage="s3", backup={"s3_bucket": ""})
    [storage] = backups(Shop(workspace, TickingClock()).context())
    assert (storage.subject, storage.status, storage.reason) == (
        "storage", Status.UNKNOWN, Reason.MISSING,
    )  # fmt: skip
    assert storage.summary == (
        "backup storage cannot be read: environment 'shop': backup.s3_bucket is not set"
    )


def test_invoke_monitor_alerts_on_missing_backups(shop: Shop) -> None:
    with pytest.raises(CheckFailed, match="critical: backups/db: no complete db backup"):
        monitor(NAME, shop.workspace.env(), Console(interactive=False), checks=["backups"],
                notify=False, clock=shop.clock)  # fmt: skip
