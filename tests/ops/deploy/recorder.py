"""A :class:`~ops.core.commands.Runner` standing in for :func:`ops.core.commands.run`: it
records the exact commands the kubernetes and railway platforms run, and answers them as
a cluster or Railway would."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ops.core.commands import Completed
from ops.environments import EnvironmentDefinition, load_environment
from tests.support import s3

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

# What `kubectl kustomize` prints for an overlay like staging's (trimmed to what the
# platform reads); tests/ops/deploy/test_manifests.py renders the real overlays.
RENDERED = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: trading-api-config-5f7g2h
  namespace: trading-staging
data:
  CORS_ORIGINS: https://staging.trading.example.com
  ENVIRONMENT: staging
  LOG_LEVEL: INFO
---
apiVersion: v1
kind: Service
metadata:
  name: trading-api
  namespace: trading-staging
spec:
  selector: {app: trading-api, track: stable}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: trading-api
  namespace: trading-staging
spec:
  replicas: 2
  selector:
    matchLabels: {app: trading-api, track: stable}
  template:
    metadata:
      labels: {app: trading-api, track: stable}
    spec:
      automountServiceAccountToken: false
      securityContext: {runAsNonRoot: true, runAsUser: 10001}
      containers:
        - name: api
          image: ghcr.io/example/trading-api:0.1.0
          envFrom:
            - configMapRef: {name: trading-api-config-5f7g2h}
            - secretRef: {name: trading-api}
          readinessProbe:
            httpGet: {path: /ready, port: http}
          securityContext: {readOnlyRootFilesystem: true, allowPrivilegeEscalation: false}
          volumeMounts: [{name: tmp, mountPath: /tmp}]
      volumes: [{name: tmp, emptyDir: {}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: trading-api
  namespace: trading-staging
spec:
  tls: [{hosts: [staging.trading.example.com], secretName: trading-api-tls}]
  rules: [{host: staging.trading.example.com}]
"""
STABLE_DEPLOYMENT = "trading-api"


class Recorder:
    """Records every command (and its stdin); fails the ones containing ``fail_on``."""

    def __init__(self, fail_on: str | None = None, rendered: str = RENDERED) -> None:
        self.commands: list[list[str]] = []
        self.stdin: list[str | bytes | None] = []
        self.envs: list[Mapping[str, str] | None] = []
        self.fail_on = fail_on
        self.rendered = rendered

    def __call__(self, command: Sequence[str], **options: Any) -> Completed:
        """Answer ``command`` as the real tool would (``options`` as :func:`run` takes them)."""
        self.commands.append(list(command))
        self.stdin.append(options.get("stdin"))
        self.envs.append(options.get("env"))
        joined = " ".join(command)
        if self.fail_on and self.fail_on in joined:
            return self._done(command, 1, "", f"error: {self.fail_on} broke\n")
        if joined.startswith("kubectl kustomize"):
            return self._done(command, 0, self.rendered)
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
        """Each command's verb: kubectl's two words after the namespace (``kustomize``, which
        has none), else three words."""
        return [_verb(command) for command in self.commands]

    def stable_changes(self) -> list[int]:
        """Indices of the commands that could change what the stable Deployment runs: any
        ``set image``, ``patch``, ``edit``, ``replace`` or ``apply -k`` (of a whole overlay),
        and any ``apply -f -`` whose input holds the stable Deployment."""
        return [i for i, command in enumerate(self.commands) if self._changes_stable(i, command)]

    def _changes_stable(self, index: int, command: list[str]) -> bool:
        if command[0] != "kubectl":
            return False
        verb = _verb(command)
        if verb.split()[0] in ("set", "patch", "edit", "replace") or verb == "apply -k":
            return True
        return verb == "apply -f" and any(_is_stable(item) for item in self.applied(index))

    def applied(self, index: int) -> list[dict[str, Any]]:
        """The objects the ``apply -f -`` command at ``index`` sent (a List's items)."""
        sent = json.loads(str(self.stdin[index]))
        items: list[dict[str, Any]] = sent["items"] if sent.get("kind") == "List" else [sent]
        return items


def _verb(command: list[str]) -> str:
    if command[0] != "kubectl":
        return " ".join(command[:3])
    return "kustomize" if command[1] == "kustomize" else " ".join(command[3:5])


def _is_stable(item: dict[str, Any]) -> bool:
    return bool(item.get("kind") == "Deployment" and item["metadata"]["name"] == STABLE_DEPLOYMENT)


def railway_environment(tmp_path: Path) -> EnvironmentDefinition:
    """Staging as a Railway environment: its state under ``tmp_path``, its backup storage
    (and so its history and its lock) the test S3 server's bucket, under its own prefix."""
    staging = load_environment("staging")
    return staging.model_copy(update={
        "platform": "railway",
        "local": staging.local.model_copy(update={"state_dir": str(tmp_path / "state")}),
        "backup": staging.backup.model_copy(update={
            "s3_bucket": s3.BUCKET, "s3_prefix": f"rw-{tmp_path.name}", "s3_region": s3.REGION,
        }),
    })  # fmt: skip
