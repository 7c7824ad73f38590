"""A :class:`~ops.core.commands.Runner` standing in for :func:`ops.core.commands.run`: it
records the exact commands the kubernetes and railway platforms run, and answers them as
a cluster or Railway would."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from ops.core.commands import Completed

STABLE = {
    "metadata": {"name": "trading-api"},
    "spec": {
        "selector": {"matchLabels": {"app": "trading-api"}},
        "template": {
            "metadata": {"labels": {"app": "trading-api", "track": "stable"}},
            "spec": {"containers": [{"name": "api", "image": "ghcr.io/example/trading-api:old"}]},
        },
    },
    "status": {"replicas": 2, "readyReplicas": 2},
}


def _replicaset(revision: int, tag: str) -> dict[str, object]:
    return {
        "metadata": {"annotations": {"deployment.kubernetes.io/revision": str(revision)}},
        "spec": {"template": {"spec": {"containers": [{"image": f"registry/api:{tag}"}]}}},
    }


REPLICASETS = {"items": [_replicaset(3, "v3"), _replicaset(1, "v1"), _replicaset(2, "v2")]}


class Recorder:
    """Records every command (and its stdin); fails the ones containing ``fail_on``."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.commands: list[list[str]] = []
        self.stdin: list[str | bytes | None] = []
        self.envs: list[Mapping[str, str] | None] = []
        self.fail_on = fail_on

    def __call__(self, command: Sequence[str], **options: Any) -> Completed:
        """Answer ``command`` as the real tool would (``options`` as :func:`run` takes them)."""
        self.commands.append(list(command))
        self.stdin.append(options.get("stdin"))
        self.envs.append(options.get("env"))
        joined = " ".join(command)
        if self.fail_on and self.fail_on in joined:
            return self._done(command, 1, "", f"error: {self.fail_on} broke\n")
        if "get replicasets" in joined:
            return self._done(command, 0, json.dumps(REPLICASETS))
        if "jsonpath" in joined:
            return self._done(command, 0, "ghcr.io/example/trading-api:old")
        if "-o json" in joined:
            return self._done(command, 0, json.dumps(STABLE))
        if joined.startswith("railway variables --kv"):
            return self._done(command, 0, "APP_VERSION=v1\nOTHER=x\n")
        return self._done(command, 0, "ok")

    @staticmethod
    def _done(command: Sequence[str], code: int, stdout: str, stderr: str = "") -> Completed:
        return Completed(tuple(command), code, stdout, stderr)

    def verbs(self) -> list[str]:
        """Each command's verb: kubectl's two words after the namespace, else three words."""
        return [" ".join(c[3:5]) if c[0] == "kubectl" else " ".join(c[:3]) for c in self.commands]
