"""One deploy at a time per environment: an atomic lock file (the local platform; on
Kubernetes a Lease in the cluster, :mod:`ops.deploy.lease`, on another remote platform an
object in the backup storage, :mod:`ops.deploy.bucket_lock`: both a :class:`SharedLock`).

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
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar, Protocol

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

    @classmethod
    def unreadable(cls, where: str) -> LockInfo:
        """The holder of a lock that cannot be read: unknown, and holding it."""
        return cls("unknown", "unknown", 0, "unknown", "unknown", f"unreadable {where}")

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
        return LockInfo.unreadable(f"lock {path}")


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


class SharedLock(ABC):
    """A deploy lock in what every deployer shares (a bucket, a cluster), the interface of
    :class:`Lock`: taken by a create that fails when it exists, so two deploys cannot both
    take it; a stale one (past :attr:`LockInfo.expires_at`, ``seconds`` after it was
    taken) taken over by a replace conditional on the version read, which a concurrent
    taker makes fail. A subclass stores it."""

    noun: ClassVar[str] = "lock"

    def __init__(self, seconds: int) -> None:
        self.seconds = seconds
        self.info: LockInfo | None = None
        self.notes: list[str] = []

    @property
    @abstractmethod
    def where(self) -> str:
        """The lock, for messages."""

    @abstractmethod
    def _create(self, info: LockInfo) -> bool:
        """Store ``info`` unless there is a lock; whether it was stored."""

    @abstractmethod
    def _replace(self, info: LockInfo, version: str) -> bool:
        """Store ``info`` over the lock if it is still at ``version``; whether it was."""

    @abstractmethod
    def _read(self) -> tuple[LockInfo, str] | None:
        """The holder and the version of the lock; None when there is none (an
        unreadable one counts as held: :meth:`LockInfo.unreadable`)."""

    @abstractmethod
    def _delete(self) -> None:
        """Remove the lock, whoever holds it."""

    def acquire(self, version: str, message: str, wait_seconds: float = 0) -> LockInfo:
        """Take the lock, waiting up to ``wait_seconds``; :class:`LockHeld` otherwise."""
        info = LockInfo.ours(version, message, lasts_seconds=self.seconds)
        self.info = take(self._try_take, info, self.where, wait_seconds)
        return self.info

    def _try_take(self, info: LockInfo) -> tuple[bool, str]:
        """One attempt (a :func:`take` probe): take the lock, or name who holds it."""
        if self._create(info):
            return True, "us"
        found = self._read()
        if found is None:
            return False, f"unknown holder (the {self.noun} could not be taken, nor read)"
        current, version = found
        if current.is_stale():
            if self._replace(info, version):
                self.notes.append(f"took over a stale {self.noun}: {current.describe()}")
                return True, "us"
            current = (self._read() or found)[0]  # someone else took it over first: name them
        return False, current.describe()

    def read(self) -> LockInfo | None:
        """The current holder, or None when unlocked."""
        found = self._read()
        return found[0] if found else None

    def force_release(self) -> LockInfo | None:
        """Remove the lock whoever holds it (``invoke unlock``); returns the holder."""
        current = self.read()
        self._delete()
        return current


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
