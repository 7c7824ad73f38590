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
from ops.deploy.lock import LockInfo, SharedLock

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


class LeaseLock(SharedLock):
    """The deploy lock of a Kubernetes environment."""

    noun = "lease"

    def __init__(self, cluster: Kubectl, name: str, seconds: int = LEASE_SECONDS) -> None:
        super().__init__(seconds)
        self.cluster, self.name = cluster, name

    @property
    def where(self) -> str:
        """The lock, for messages."""
        return f"lease/{self.name}"

    def _create(self, info: LockInfo) -> bool:
        return self._kubectl_ok(["create", "-f", "-"], self._manifest(info))

    def _replace(self, info: LockInfo, version: str) -> bool:
        return self._kubectl_ok(["replace", "-f", "-"], self._manifest(info, version))

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
            return LockInfo.unreadable(self.where), ""
        return info, str(metadata.get("resourceVersion", ""))

    def release(self) -> None:
        """Give the lease back, if we hold it."""
        if self.info is not None and self.read() == self.info:
            self._delete()
        self.info = None

    def _delete(self) -> None:
        self._kubectl_ok(["delete", "lease", self.name, "--ignore-not-found"], "")
