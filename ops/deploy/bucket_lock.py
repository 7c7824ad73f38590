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
from ops.deploy.lock import LockInfo, SharedLock
from ops.storage.base import Storage, StorageError, join_key

PREFIX = "deploy-lock"


class StorageLock(SharedLock):
    """The deploy lock of an environment in its backup storage."""

    def __init__(self, storage: Storage, environment: str, seconds: int = LEASE_SECONDS) -> None:
        super().__init__(seconds)
        self.storage = storage
        self.key = join_key(PREFIX, f"{environment}.json")

    @property
    def where(self) -> str:
        """The lock, for messages."""
        return f"{self.key} in {self.storage.description}"

    def _create(self, info: LockInfo) -> bool:
        return self.storage.put_if_absent(self.key, _data(info))

    def _replace(self, info: LockInfo, version: str) -> bool:
        return self.storage.replace_if(self.key, _data(info), version)

    def _read(self) -> tuple[LockInfo, str] | None:
        """The holder and the object's tag; None when unlocked (unreadable counts as held)."""
        found = self.storage.get_tagged(self.key)
        if found is None:
            return None
        try:
            return LockInfo(**json.loads(found.data)), found.tag
        except (ValueError, TypeError):
            return LockInfo.unreadable(self.where), found.tag

    def _delete(self) -> None:
        self.storage.delete(self.key)

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


def _data(info: LockInfo) -> bytes:
    return json.dumps(asdict(info)).encode()
