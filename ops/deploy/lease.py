"""One deploy at a time on Kubernetes: a ``coordination.k8s.io`` Lease in the namespace.

A file on a throwaway CI runner locks nothing; the cluster is what every deployer shares.
The Lease names its holder (user, host, pid), the version and why, when it was taken and
when it goes stale (``leaseDurationSeconds``, longer than any deploy job may run). Taking
it is ``kubectl create`` -- which fails when it exists, so two deploys cannot both take
it; a stale one is taken over with ``kubectl replace`` at the ``resourceVersion`` read
(optimistic: a concurrent taker makes it fail). ``invoke unlock`` deletes it, as it
deletes the lock file of the local platform.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from typing import Any, Protocol

from ops.core.commands import CommandError, Completed
from ops.deploy.lock import LockInfo, take

# Longer than any deploy job may run (cd.yml: 45 minutes at the most): a lease that old
# belongs to a deploy that is gone.
LEASE_SECONDS = 3600
ANNOTATION = "trading.example.com/deploy-lock"
MICRO = "%Y-%m-%dT%H:%M:%S.%fZ"


class Kubectl(Protocol):
    """What the lease needs of the Kubernetes platform."""

    def kubectl(self, *args: str) -> list[str]:
        """A kubectl command line in the environment's namespace."""
        ...

    def run(self, command: list[str], stdin: str | None = None) -> Completed:
        """Run a command; never raises for an exit status."""
        ...


class LeaseLock:
    """The deploy lock of a Kubernetes environment (the interface of
    :class:`ops.deploy.lock.DeployLock`)."""

    def __init__(self, cluster: Kubectl, name: str, seconds: int = LEASE_SECONDS) -> None:
        self.cluster, self.name, self.seconds = cluster, name, seconds
        self.info: LockInfo | None = None
        self.notes: list[str] = []

    @property
    def where(self) -> str:
        """The lock, for messages."""
        return f"lease/{self.name}"

    def acquire(self, version: str, message: str, wait_seconds: float = 0) -> LockInfo:
        """Take the lease, waiting up to ``wait_seconds``; :class:`LockHeld` otherwise."""
        info = LockInfo.ours(version, message, lasts_seconds=self.seconds)
        self.info = take(self._try_take, info, self.where, wait_seconds)
        return self.info

    def _try_take(self, info: LockInfo) -> tuple[bool, str]:
        if self._kubectl_ok(["create", "-f", "-"], self._manifest(info)):
            return True, "us"
        found = self._read()
        if found is None:
            return False, "unknown holder (the lease could not be created or read)"
        current, version = found
        if current.is_stale():
            replaced = self._manifest(info, resource_version=version)
            if self._kubectl_ok(["replace", "-f", "-"], replaced):
                self.notes.append(f"took over a stale lease: {current.describe()}")
                return True, "us"
            found = self._read() or found  # someone else took it over first: name them
            current = found[0]
        return False, current.describe()

    def _manifest(self, info: LockInfo, resource_version: str = "") -> str:
        started = datetime.fromisoformat(info.started_at).strftime(MICRO)
        annotations = {ANNOTATION: json.dumps(asdict(info))}
        metadata: dict[str, Any] = {"name": self.name, "annotations": annotations}
        if resource_version:
            metadata["resourceVersion"] = resource_version
        lease = {
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": metadata,
            "spec": {"holderIdentity": f"{info.holder}@{info.host} (pid {info.pid})",
                     "acquireTime": started, "renewTime": started,
                     "leaseDurationSeconds": self.seconds},
        }  # fmt: skip
        return json.dumps(lease)

    def _kubectl_ok(self, args: list[str], stdin: str) -> bool:
        try:
            return self.cluster.run(self.cluster.kubectl(*args), stdin).ok
        except CommandError:
            return False

    def _read(self) -> tuple[LockInfo, str] | None:
        """The lease's holder and resourceVersion; None when there is none (or no answer)."""
        try:
            done = self.cluster.run(self.cluster.kubectl("get", "lease", self.name, "-o", "json"))
        except CommandError:
            return None
        if not done.ok:
            return None
        try:
            lease = json.loads(done.stdout)
            metadata = lease["metadata"]
            info = LockInfo(**json.loads(metadata["annotations"][ANNOTATION]))
        except (ValueError, KeyError, TypeError):
            holder = "unknown"
            info = LockInfo(holder, "unknown", 0, "unknown", "unknown", f"unreadable {self.where}")
            return info, ""
        return info, str(metadata.get("resourceVersion", ""))

    def read(self) -> LockInfo | None:
        """The current holder, or None when unlocked."""
        found = self._read()
        return found[0] if found else None

    def release(self) -> None:
        """Give the lease back, if we hold it."""
        if self.info is not None and self.read() == self.info:
            self._delete()
        self.info = None

    def force_release(self) -> LockInfo | None:
        """Delete the lease whoever holds it (``invoke unlock``); returns the holder."""
        current = self.read()
        self._delete()
        return current

    def _delete(self) -> None:
        self._kubectl_ok(["delete", "lease", self.name, "--ignore-not-found"], "")
