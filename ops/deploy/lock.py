"""One deploy at a time per environment: an atomic lock file (the local and Railway
platforms; Kubernetes holds a Lease in the cluster instead, :mod:`ops.deploy.lease`).

The lock records who holds it (user, host, pid), the version, when, and why.
It is created with O_EXCL, so two deploys cannot both take it. A lock whose
holder process is gone on this host is stale and is released with a message;
one held from another host can only be released explicitly.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from ops.core.exits import CannotRun
from ops.core.processes import wait_for

FILE_NAME = "deploy.lock"
RETRY_SECONDS = 0.5


class LockHeld(CannotRun):
    """Someone else holds the lock (a refusal: nothing changed); the message names them."""


@dataclass(frozen=True, slots=True)
class LockInfo:
    """Who holds a lock, for what."""

    holder: str
    host: str
    pid: int
    version: str
    started_at: str
    message: str
    expires_at: str = ""  # a lease's: stale after it, wherever the holder ran

    @classmethod
    def ours(cls, version: str, message: str, lasts_seconds: float | None = None) -> LockInfo:
        """This process as a holder (until ``lasts_seconds`` from now, for a lease)."""
        now = datetime.now(UTC)
        expires = now + timedelta(seconds=lasts_seconds) if lasts_seconds is not None else None
        return cls(
            holder=getpass.getuser(), host=socket.gethostname(), pid=os.getpid(),
            version=version, started_at=now.isoformat(timespec="seconds"), message=message,
            expires_at=expires.isoformat(timespec="seconds") if expires else "",
        )  # fmt: skip

    def describe(self) -> str:
        """One line for humans."""
        return (
            f"{self.holder}@{self.host} (pid {self.pid}) deploying {self.version} "
            f"since {self.started_at}: {self.message}"
        )

    def is_stale(self) -> bool:
        """True when a lease has expired, or the holder ran on this host and is no longer
        running."""
        if self.expires_at:
            return datetime.fromisoformat(self.expires_at) < datetime.now(UTC)
        if self.host != socket.gethostname():
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False


def take(
    attempt: Callable[[LockInfo], tuple[bool, str]], info: LockInfo, where: str, wait: float
) -> LockInfo:
    """Take a lock as ``info`` with ``attempt`` (True, or False and who holds it), retrying
    for ``wait`` seconds; :class:`LockHeld` naming the holder otherwise."""
    waited = wait_for(lambda: attempt(info), timeout=wait, interval=RETRY_SECONDS)
    if not waited.ready:
        raise LockHeld(f"deploy lock {where} is held by {waited.seen}")
    return info


def read_lock(path: Path) -> LockInfo | None:
    """The current holder, or None when unlocked (an unreadable lock counts as held)."""
    try:
        return LockInfo(**json.loads(path.read_text()))
    except FileNotFoundError:
        return None
    except (ValueError, TypeError):
        return LockInfo("unknown", "unknown", 0, "unknown", "unknown", f"unreadable lock {path}")


class Lock(Protocol):
    """What a deploy lock does, wherever it lives (a file, a Lease)."""

    info: LockInfo | None
    notes: list[str]

    @property
    def where(self) -> str:
        """The lock, for messages."""
        ...

    def acquire(self, version: str, message: str, wait_seconds: float = 0) -> LockInfo:
        """Take the lock, or :class:`LockHeld`."""
        ...

    def release(self) -> None:
        """Give it back, if held."""
        ...

    def read(self) -> LockInfo | None:
        """Who holds it."""
        ...

    def force_release(self) -> LockInfo | None:
        """Release it whoever holds it."""
        ...


class DeployLock:
    """The per-environment lock, held for the whole deploy including verification."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.info: LockInfo | None = None
        self.notes: list[str] = []

    @property
    def where(self) -> str:
        """The lock, for messages."""
        return str(self.path)

    def read(self) -> LockInfo | None:
        """The current holder, or None when unlocked."""
        return read_lock(self.path)

    def force_release(self) -> LockInfo | None:
        """Remove the lock whoever holds it; returns the holder."""
        return force_release(self.path)

    def acquire(self, version: str, message: str, wait_seconds: float = 0) -> LockInfo:
        """Take the lock, waiting up to ``wait_seconds``; raise :class:`LockHeld` otherwise."""
        self.info = take(self._try_take, LockInfo.ours(version, message), self.where, wait_seconds)
        return self.info

    def _try_take(self, info: LockInfo) -> tuple[bool, str]:
        """One attempt (a :func:`wait_for` probe): take the lock, or name who holds it."""
        if self._try_create(info):
            return True, "us"
        current = read_lock(self.path)
        if current is not None and current.is_stale():
            self.notes.append(f"released a stale lock: {current.describe()}")
            self.path.unlink(missing_ok=True)
            if self._try_create(info):
                return True, "us"
            current = read_lock(self.path)
        return False, current.describe() if current else "unknown holder"

    def _try_create(self, info: LockInfo) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as handle:
            json.dump(asdict(info), handle)
        return True

    def release(self) -> None:
        """Give the lock back, if we hold it."""
        current = read_lock(self.path)
        if self.info is not None and current == self.info:
            self.path.unlink(missing_ok=True)
        self.info = None


def force_release(path: Path) -> LockInfo | None:
    """Remove the lock whoever holds it (the explicit ``unlock`` command); returns the holder."""
    current = read_lock(path)
    path.unlink(missing_ok=True)
    return current
