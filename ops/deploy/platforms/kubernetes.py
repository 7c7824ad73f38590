"""The ``kubernetes`` platform: kubectl against the manifests under deploy/kubernetes.

Sequence (each command is unit-tested; a real run needs docker logged in to the
registry, kubectl with a context that has rights in the namespace, and the
``trading-api`` Secret holding DATABASE_URL, REDIS_URL and JWT_SECRET_KEY):

1. build: ``docker build`` and ``docker push`` of the release image (unless the registry
   has it), then ``kubectl apply -k <overlay>`` (service, deployment, disruption budget).
2. migrate: a Job running ``python -m app migrate`` from the new image; wait for it.
3. start: a *candidate* Deployment (label ``track: candidate``, which the Service
   does not select) with the new image; ``rollout status`` with a deadline.
4. gates: through ``kubectl port-forward`` to the candidate.
5. switch: ``set image`` on the stable Deployment; its readiness probes and
   ``maxUnavailable: 0`` keep serving pods; ``rollout status``, ``rollout undo`` on failure.
6. drain: delete the candidate (pods get their termination grace period).
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

from ops.core.processes import free_port
from ops.deploy.gates import Target
from ops.deploy.platforms.base import (
    Candidate,
    PlatformError,
    Runner,
    checked,
    subprocess_runner,
)
from ops.environments import EnvironmentDefinition
from ops.project import ROOT


class KubernetesPlatform:
    """Rolling updates of one Deployment, gated by a candidate Deployment first."""

    name = "kubernetes"

    def __init__(
        self,
        environment: EnvironmentDefinition,
        secrets: dict[str, str],
        runner: Runner | None = None,
    ) -> None:
        self.environment = environment
        self.config = environment.kubernetes
        self.secrets = secrets
        self.run = runner or subprocess_runner(self.config.rollout_timeout_seconds + 60)
        self.forward: subprocess.Popen[bytes] | None = None

    def kubectl(self, *args: str) -> list[str]:
        """A kubectl command line for this environment's context and namespace."""
        base = ["kubectl"]
        if self.config.context:
            base += ["--context", self.config.context]
        return [*base, "--namespace", self.config.namespace, *args]

    def image(self, version: str) -> str:
        """The image reference of a version."""
        return f"{self.config.image}:{version}"

    @property
    def candidate_name(self) -> str:
        """The candidate Deployment's name."""
        return f"{self.config.deployment}-candidate"

    def preflight(self) -> None:
        """kubectl must be installed and able to reach the cluster."""
        checked(self.run, self.kubectl("version", "--client=true", "--output=json"))
        checked(self.run, self.kubectl("get", "deployment", self.config.deployment, "-o", "name"))

    def serving_version(self) -> str | None:
        """The tag of the stable Deployment's image."""
        jsonpath = "{.spec.template.spec.containers[0].image}"
        result = self.run(
            self.kubectl("get", "deployment", self.config.deployment, "-o", f"jsonpath={jsonpath}")
        )
        if result.code != 0 or ":" not in result.stdout:
            return None
        return result.stdout.rsplit(":", 1)[1].strip() or None

    def available_versions(self) -> list[str]:
        """Image tags of the Deployment's kept revisions (its ReplicaSets), oldest first."""
        selector = f"app={self.config.deployment},track=stable"
        result = self.run(self.kubectl("get", "replicasets", "-l", selector, "-o", "json"))
        if result.code != 0:
            return []
        revisions: list[tuple[int, str]] = []
        for item in json.loads(result.stdout or "{}").get("items", []):
            annotations = item.get("metadata", {}).get("annotations", {})
            revision = int(annotations.get("deployment.kubernetes.io/revision", 0))
            image = item["spec"]["template"]["spec"]["containers"][0]["image"]
            revisions.append((revision, image.rsplit(":", 1)[-1]))
        return [tag for _, tag in sorted(revisions)]

    def build(self, version: str, source: Path) -> str:
        """Build and push the release image (once per version), then apply the manifests."""
        image = self.image(version)
        if self.run(["docker", "manifest", "inspect", image]).code == 0:
            built = f"image {image} already in the registry"
        else:
            checked(self.run, [
                "docker", "build", "--file", str(source / "deploy" / "Dockerfile"),
                "--tag", image, "--build-arg", f"APP_VERSION={version}",
                "--build-arg", f"GIT_SHA={version}", str(source),
            ])  # fmt: skip
            checked(self.run, ["docker", "push", image])
            built = f"built and pushed {image}"
        checked(self.run, self.kubectl("apply", "-k", str(ROOT / self.config.manifests_dir)))
        return f"{built}; applied {self.config.manifests_dir}"

    def migration_job(self, version: str) -> dict[str, Any]:
        """The Job that runs the migrations from the new image."""
        name = f"{self.config.deployment}-migrate-{version}"[:63].rstrip("-.")
        return {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": name, "labels": {"app": self.config.deployment}},
            "spec": {
                "backoffLimit": 0,
                "ttlSecondsAfterFinished": 3600,
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [
                            {
                                "name": "migrate",
                                "image": self.image(version),
                                "command": ["python", "-m", "app", "migrate"],
                                "envFrom": [{"secretRef": {"name": self.config.deployment}}],
                            }
                        ],
                    }
                },
            },
        }

    def migrate(self, version: str) -> str:
        """Run the migration Job and wait for it to complete."""
        job = self.migration_job(version)
        checked(self.run, self.kubectl("apply", "-f", "-"), json.dumps(job))
        timeout = f"--timeout={self.config.rollout_timeout_seconds}s"
        name = job["metadata"]["name"]
        checked(self.run, self.kubectl("wait", "--for=condition=complete", f"job/{name}", timeout))
        return f"job/{name} completed"

    def start(self, version: str) -> Candidate:
        """Create the candidate Deployment from the stable one and wait for its rollout."""
        stable = json.loads(
            checked(
                self.run, self.kubectl("get", "deployment", self.config.deployment, "-o", "json")
            )
        )
        candidate = _candidate_manifest(stable, self.candidate_name, self.image(version))
        checked(self.run, self.kubectl("apply", "-f", "-"), json.dumps(candidate))
        self._rollout(self.candidate_name)
        port = free_port()
        self.forward = subprocess.Popen(  # noqa: S603 - kubectl with built arguments
            self.kubectl("port-forward", f"deployment/{self.candidate_name}", f"{port}:8000"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(1)
        return Candidate(version, Target(f"http://127.0.0.1:{port}"), slot="candidate")

    def _rollout(self, deployment: str) -> None:
        timeout = f"--timeout={self.config.rollout_timeout_seconds}s"
        checked(self.run, self.kubectl("rollout", "status", f"deployment/{deployment}", timeout))

    def alive(self, candidate: Candidate) -> bool:
        """The port-forward to the candidate is up."""
        return self.forward is not None and self.forward.poll() is None

    def logs(self, candidate: Candidate, lines: int = 20) -> str:
        """The candidate's last log lines."""
        result = self.run(
            self.kubectl("logs", f"deployment/{self.candidate_name}", f"--tail={lines}")
        )
        return result.stdout or result.stderr

    def _stop_forward(self) -> None:
        if self.forward is not None:
            self.forward.terminate()
            self.forward.wait(timeout=10)
            self.forward = None

    def switch(self, candidate: Candidate) -> str:
        """Roll the stable Deployment to the new image; undo the rollout if it fails."""
        self._stop_forward()
        container = f"{self.config.container}={self.image(candidate.version)}"
        checked(
            self.run,
            self.kubectl("set", "image", f"deployment/{self.config.deployment}", container),
        )
        try:
            self._rollout(self.config.deployment)
        except PlatformError:
            self.run(self.kubectl("rollout", "undo", f"deployment/{self.config.deployment}"))
            raise
        return f"deployment/{self.config.deployment} rolled out {candidate.version}"

    def drain(self, candidate: Candidate) -> str:
        """Delete the candidate Deployment (Kubernetes drains the old pods itself)."""
        self.run(self.kubectl("delete", "deployment", self.candidate_name, "--ignore-not-found"))
        return "old pods drained by the rolling update; candidate removed"

    def discard(self, candidate: Candidate) -> str:
        """Delete the candidate; the stable Deployment was never touched."""
        self._stop_forward()
        self.run(self.kubectl("delete", "deployment", self.candidate_name, "--ignore-not-found"))
        return f"deleted deployment/{self.candidate_name}"

    def rollback(self) -> str:
        """``kubectl rollout undo`` of the stable Deployment."""
        checked(self.run, self.kubectl("rollout", "undo", f"deployment/{self.config.deployment}"))
        self._rollout(self.config.deployment)
        return f"rolled back deployment/{self.config.deployment}"

    def status(self) -> dict[str, Any]:
        """The stable Deployment's image and readiness."""
        result = self.run(self.kubectl("get", "deployment", self.config.deployment, "-o", "json"))
        if result.code != 0:
            return {"error": (result.stderr or "kubectl failed").strip().splitlines()[-1]}
        data = json.loads(result.stdout)
        return {
            "image": data["spec"]["template"]["spec"]["containers"][0]["image"],
            "replicas": data.get("status", {}).get("replicas"),
            "ready": data.get("status", {}).get("readyReplicas"),
        }

    def down(self) -> list[str]:
        """Scale the Deployment to zero."""
        checked(
            self.run, self.kubectl("scale", f"deployment/{self.config.deployment}", "--replicas=0")
        )
        return [f"deployment/{self.config.deployment} scaled to 0"]

    def prune(self, keep: int, protect: set[str]) -> list[str]:
        """Revision history is bounded by the Deployment's ``revisionHistoryLimit``."""
        return []


def _candidate_manifest(stable: dict[str, Any], name: str, image: str) -> dict[str, Any]:
    spec = stable["spec"]
    template = json.loads(json.dumps(spec["template"]))
    template["metadata"].setdefault("labels", {})["track"] = "candidate"
    template["spec"]["containers"][0]["image"] = image
    selector = dict(spec["selector"]["matchLabels"], track="candidate")
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "labels": {"app": stable["metadata"]["name"], "track": "candidate"},
        },
        "spec": {"replicas": 1, "selector": {"matchLabels": selector}, "template": template},
    }
