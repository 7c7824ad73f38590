"""The Kubernetes deploy lock: a Lease in the namespace, taken with ``kubectl create``
(which fails when it exists), taken over when stale with ``kubectl replace`` at the
version read, released only by its holder -- against a fake API server that keeps the
Lease as Kubernetes would (AlreadyExists, NotFound, Conflict on a stale resourceVersion)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest

from ops.core.commands import Completed
from ops.deploy.context import DeployContext, open_context
from ops.deploy.lease import ANNOTATION, LeaseLock
from ops.deploy.lock import DeployLock, LockHeld
from ops.deploy.platforms.kubernetes import KubernetesPlatform
from ops.environments import load_environment


class FakeCluster:
    """kubectl create/get/replace/delete of Lease objects, with resourceVersions."""

    def __init__(self) -> None:
        self.leases: dict[str, dict[str, Any]] = {}
        self.version = 0
        self.commands: list[list[str]] = []
        self.before_replace: Any = None  # a concurrent writer, run just before a replace

    def kubectl(self, *args: str) -> list[str]:
        return ["kubectl", "--namespace", "trading-staging", *args]

    def run(self, command: Sequence[str], stdin: str | None = None) -> Completed:
        self.commands.append(list(command))
        verb, rest = command[3], list(command[4:])
        if verb in ("create", "replace"):
            return self._write(verb, json.loads(stdin or "{}"))
        if verb == "get":
            lease = self.leases.get(rest[1])
            if lease is None:
                return self._done(command, 1, stderr='leases "x" not found')
            return self._done(command, 0, json.dumps(lease))
        if verb == "delete":
            self.leases.pop(rest[1], None)
            return self._done(command, 0)
        raise AssertionError(f"unexpected {command}")

    def _write(self, verb: str, lease: dict[str, Any]) -> Completed:
        name = lease["metadata"]["name"]
        command = ("kubectl", verb)
        if verb == "create" and name in self.leases:
            return self._done(command, 1, stderr="AlreadyExists")
        if verb == "replace":
            if self.before_replace:
                self.before_replace()
            current = self.leases[name]["metadata"]["resourceVersion"]
            if lease["metadata"].get("resourceVersion") != current:
                return self._done(command, 1, stderr="Conflict: the object has been modified")
        self.version += 1
        lease["metadata"]["resourceVersion"] = str(self.version)
        self.leases[name] = lease
        return self._done(command, 0)

    @staticmethod
    def _done(command: Sequence[str], code: int, stdout: str = "", stderr: str = "") -> Completed:
        return Completed(tuple(command), code, stdout, stderr)


def holder_of(cluster: FakeCluster) -> dict[str, Any]:
    lease = cluster.leases["trading-api-deploy"]
    return dict(json.loads(lease["metadata"]["annotations"][ANNOTATION]))


def test_one_deploy_holds_the_lease_and_a_second_is_refused_naming_it() -> None:
    cluster = FakeCluster()
    first = LeaseLock(cluster, "trading-api-deploy")
    info = first.acquire("v2", "ship it")
    lease = cluster.leases["trading-api-deploy"]
    assert lease["spec"]["holderIdentity"] == f"{info.holder}@{info.host} (pid {info.pid})"
    assert lease["spec"]["leaseDurationSeconds"] == 3600
    assert holder_of(cluster)["version"] == "v2"
    with pytest.raises(LockHeld, match=r"^deploy lock lease/trading-api-deploy is held by .* "
                                       r"deploying v2 since .*: ship it$"):  # fmt: skip
        LeaseLock(cluster, "trading-api-deploy").acquire("v3", "too")
    first.release()
    assert cluster.leases == {}
    LeaseLock(cluster, "trading-api-deploy").acquire("v3", "now")


def test_a_stale_lease_is_taken_over_with_a_note() -> None:
    cluster = FakeCluster()
    LeaseLock(cluster, "trading-api-deploy", seconds=-60).acquire("v1", "gone")  # expired
    taker = LeaseLock(cluster, "trading-api-deploy")
    taker.acquire("v2", "after")
    assert holder_of(cluster)["version"] == "v2"
    assert taker.notes[0].startswith("took over a stale lease: ")
    assert cluster.commands[-1][3:] == ["replace", "-f", "-"]


def test_two_takers_of_a_stale_lease_cannot_both_win() -> None:
    cluster = FakeCluster()
    LeaseLock(cluster, "trading-api-deploy", seconds=-60).acquire("v1", "gone")
    rival = LeaseLock(cluster, "trading-api-deploy")

    def rival_first() -> None:
        cluster.before_replace = None
        rival.acquire("v9", "rival")

    cluster.before_replace = rival_first
    with pytest.raises(LockHeld, match="deploying v9"):
        LeaseLock(cluster, "trading-api-deploy").acquire("v2", "late")
    assert holder_of(cluster)["version"] == "v9"


def test_release_leaves_someone_elses_lease_and_unlock_removes_any() -> None:
    cluster = FakeCluster()
    ours = LeaseLock(cluster, "trading-api-deploy")
    ours.acquire("v1", "x")
    cluster.leases.clear()
    other = LeaseLock(cluster, "trading-api-deploy")
    other.acquire("v2", "y")
    ours.release()
    assert holder_of(cluster)["version"] == "v2", "not ours: left alone"
    held = LeaseLock(cluster, "trading-api-deploy").force_release()
    assert held is not None
    assert held.version == "v2"
    assert cluster.leases == {}
    assert LeaseLock(cluster, "trading-api-deploy").read() is None


def test_kubernetes_environments_lock_with_a_lease_the_others_with_a_file() -> None:
    staging = load_environment("staging")
    kube = DeployContext(staging, {}, KubernetesPlatform(staging, {}, {}), {})
    lease = kube.deploy_lock()
    assert isinstance(lease, LeaseLock)
    assert lease.where == "lease/trading-api-deploy"
    local = open_context("local", {"PATH": "/usr/bin:/bin"}, check_tools=False)
    assert isinstance(local.deploy_lock(), DeployLock)
