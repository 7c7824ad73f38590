"""One deploy at a time on a remote platform without a cluster (Railway): an object in the
environment's backup storage, where its deploy history already is.

A file on a throwaway CI runner locks nothing; the bucket is what every runner shares.
The object (``deploy-lock/<env>.json``) holds the lock's :class:`~ops.deploy.lock.LockInfo`
-- holder, host, pid, version, why, since -- and when it goes stale (``expires_at``, as a
Lease's: longer than any deploy job may run, so nothing renews it). Taking it is a
create-if-absent, so two deploys cannot both take it; a stale one is taken over with a
replace conditional on the tag read (a concurrent taker makes it fail), and released with
a delete conditional on ours. ``invoke unlock`` deletes it, whoever holds it.
"""

from __future__ import annotations

import json
from dataclasses import asdict

from ops.deploy.lease import LEASE_SECONDS
from ops.deploy.lock import LockInfo, take
from ops.storage.base import Storage, StorageError, join_key

PREFIX = "deploy-lock"


class StorageLock:
    """The deploy lock of an environment in its backup storage (the interface of
    :class:`ops.deploy.lock.DeployLock`)."""

    def __init__(self, storage: Storage, environment: str, seconds: int = LEASE_SECONDS) -> None:
        self.storage, self.seconds = storage, seconds
        self.key = join_key(PREFIX, f"{environment}.json")
        self.info: LockInfo | None = None
        self.notes: list[str] = []

    @property
    def where(self) -> str:
        """The lock, for messages."""
        return f"{self.key} in {self.storage.description}"

    def acquire(self, version: str, message: str, wait_seconds: float = 0) -> LockInfo:
        """Take the lock, waiting up to ``wait_seconds``; :class:`LockHeld` otherwise."""
        info = LockInfo.ours(version, message, lasts_seconds=self.seconds)
        self.info = take(self._try_take, info, self.where, wait_seconds)
        return self.info

    def _try_take(self, info: LockInfo) -> tuple[bool, str]:
        """One attempt (a :func:`take` probe): take the lock, or name who holds it."""
        data = json.dumps(asdict(info)).encode()
        if self.storage.put_if_absent(self.key, data):
            return True, "us"
        found = self._read()
        if found is None:
            return False, "unknown holder (the lock was released meanwhile)"
        current, tag = found
        if current.is_stale():
            if self.storage.replace_if(self.key, data, tag):
                self.notes.append(f"took over a stale lock: {current.describe()}")
                return True, "us"
            current = (self._read() or found)[0]  # someone else took it over first: name them
        return False, current.describe()

    def _read(self) -> tuple[LockInfo, str] | None:
        """The holder and the object's tag; None when unlocked (unreadable counts as held)."""
        found = self.storage.get_tagged(self.key)
        if found is None:
            return None
        try:
            return LockInfo(**json.loads(found.data)), found.tag
        except (ValueError, TypeError):
            holder = "unknown"
            info = LockInfo(holder, "unknown", 0, "unknown", "unknown", f"unreadable {self.where}")
            return info, found.tag

    def read(self) -> LockInfo | None:
        """The current holder, or None when unlocked."""
        found = self._read()
        return found[0] if found else None

    def release(self) -> None:
        """Give the lock back, if we still hold it (a storage failure leaves it, noted:
        it goes stale, or ``invoke unlock`` removes it)."""
        ours, self.info = self.info, None
        if ours is None:
            return
        try:
            found = self._read()
            if found is not None and found[0] == ours:
                self.storage.delete_if(self.key, found[1])
        except StorageError as error:
            self.notes.append(f"lock not released: {error}")

    def force_release(self) -> LockInfo | None:
        """Delete the lock whoever holds it (``invoke unlock``); returns the holder."""
        current = self.read()
        self.storage.delete(self.key)
        return current
