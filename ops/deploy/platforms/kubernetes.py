"""The ``kubernetes`` platform: kubectl against the manifests under deploy/kubernetes.

What the platform steps of the pipeline do here (each command is unit-tested; a
real run needs docker logged in to the registry, kubectl with a context that has
rights in the namespace, and the ``trading-api`` Secret holding DATABASE_URL,
REDIS_URL and JWT_SECRET_KEY):

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
from pathlib import Path
from typing import Any

from ops.core.commands import CommandError
from ops.core.exits import one_line
from ops.core.processes import Process, free_port, listening, wait_for
from ops.deploy.gates import Target
from ops.deploy.platforms.base import Candidate, CommandLinePlatform, PlatformError
from ops.environments import KubernetesSettings
from ops.project import ROOT

APP_PORT = 8000
FORWARD_READY_SECONDS = 15.0
# A kubectl command may take as long as the rollout it waits for, and a minute more.
COMMAND_MARGIN_SECONDS = 60


class KubernetesPlatform(CommandLinePlatform):
    """Rolling updates of one Deployment, gated by a candidate Deployment first."""

    name = "kubernetes"
    forward: Process | None = None  # the port-forward to a started candidate

    @property
    def config(self) -> KubernetesSettings:
        """The environment's ``[kubernetes]`` settings."""
        return self.environment.kubernetes

    def command_timeout(self) -> float:
        """A kubectl command may wait for a rollout."""
        return self.config.rollout_timeout_seconds + COMMAND_MARGIN_SECONDS

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
        self.require(self.kubectl("version", "--client=true", "--output=json"))
        self.require(self.kubectl("get", "deployment", self.config.deployment, "-o", "name"))

    def serving_version(self) -> str | None:
        """The tag of the stable Deployment's image."""
        jsonpath = "{.spec.template.spec.containers[0].image}"
        image = self.query(
            self.kubectl("get", "deployment", self.config.deployment, "-o", f"jsonpath={jsonpath}")
        )
        if image is None or ":" not in image:
            return None
        return image.rsplit(":", 1)[1].strip() or None

    def available_versions(self) -> list[str]:
        """Image tags of the Deployment's kept revisions (its ReplicaSets), oldest first."""
        selector = f"app={self.config.deployment},track=stable"
        listed = self.query(self.kubectl("get", "replicasets", "-l", selector, "-o", "json"))
        revisions: list[tuple[int, str]] = []
        for item in json.loads(listed or "{}").get("items", []):
            annotations = item.get("metadata", {}).get("annotations", {})
            revision = int(annotations.get("deployment.kubernetes.io/revision", 0))
            image = item["spec"]["template"]["spec"]["containers"][0]["image"]
            revisions.append((revision, image.rsplit(":", 1)[-1]))
        return [tag for _, tag in sorted(revisions)]

    def build(self, version: str, source: Path) -> str:
        """Build and push the release image (once per version), then apply the manifests."""
        image = self.image(version)
        if self.query(["docker", "manifest", "inspect", image]) is not None:
            built = f"image {image} already in the registry"
        else:
            self.check([
                "docker", "build", "--file", str(source / "deploy" / "Dockerfile"),
                "--tag", image, "--build-arg", f"APP_VERSION={version}",
                "--build-arg", f"GIT_SHA={version}", str(source),
            ])  # fmt: skip
            self.check(["docker", "push", image])
            built = f"built and pushed {image}"
        self.check(self.kubectl("apply", "-k", str(ROOT / self.config.manifests_dir)))
        return f"{built}; applied {self.config.manifests_dir}"

    def migration_job(self, version: str) -> dict[str, Any]:
        """The Job that runs the migrations from the new image."""
        name = f"{self.config.deployment}-migrate-{version}"[:63].rstrip("-.")
        container = {
            "name": "migrate",
            "image": self.image(version),
            "command": ["python", "-m", "app", "migrate"],
            "envFrom": [{"secretRef": {"name": self.config.deployment}}],
        }
        return {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": name, "labels": {"app": self.config.deployment}},
            "spec": {
                "backoffLimit": 0,
                "ttlSecondsAfterFinished": 3600,
                "template": {"spec": {"restartPolicy": "Never", "containers": [container]}},
            },
        }

    def migrate(self, version: str) -> str:
        """Run the migration Job and wait for it to complete."""
        job = self.migration_job(version)
        self.check(self.kubectl("apply", "-f", "-"), json.dumps(job))
        name = job["metadata"]["name"]
        self.check(
            self.kubectl("wait", "--for=condition=complete", f"job/{name}", self._deadline())
        )
        return f"job/{name} completed"

    def start(self, version: str) -> Candidate:
        """Create the candidate Deployment from the stable one, wait for its rollout, and
        forward a local port to it for the gates."""
        stable = json.loads(
            self.check(self.kubectl("get", "deployment", self.config.deployment, "-o", "json"))
        )
        candidate = _candidate_manifest(stable, self.candidate_name, self.image(version))
        self.check(self.kubectl("apply", "-f", "-"), json.dumps(candidate))
        self._rollout(self.candidate_name)
        port = self._forward(free_port())
        return Candidate(version, Target(f"http://127.0.0.1:{port}"), slot="candidate")

    def _forward(self, port: int) -> int:
        """``kubectl port-forward`` to the candidate, once it listens on ``port``."""
        command = self.kubectl(
            "port-forward", f"deployment/{self.candidate_name}", f"{port}:{APP_PORT}"
        )
        log_path = self.environment.state_dir / "logs" / "port-forward.log"
        self.forward = Process(command, env=self.env, cwd=ROOT, log_path=log_path).start()
        waited = wait_for(
            lambda: (listening(port), f"port {port}"), timeout=FORWARD_READY_SECONDS,
            alive=self.forward.alive,
        )  # fmt: skip
        if not waited.ready:
            tail = self.forward.log_tail(3)
            self._stop_forward()
            raise PlatformError(f"kubectl port-forward to the candidate did not listen: {tail}")
        return port

    def _deadline(self) -> str:
        return f"--timeout={self.config.rollout_timeout_seconds}s"

    def _rollout(self, deployment: str) -> None:
        self.check(self.kubectl("rollout", "status", f"deployment/{deployment}", self._deadline()))

    def alive(self, candidate: Candidate) -> bool:
        """The port-forward to the candidate is up."""
        return self.forward is not None and self.forward.alive()

    def logs(self, candidate: Candidate, lines: int = 20) -> str:
        """The candidate's last log lines."""
        return self.output(
            self.kubectl("logs", f"deployment/{self.candidate_name}", f"--tail={lines}")
        )

    def _stop_forward(self) -> None:
        if self.forward is not None:
            self.forward.stop(grace=10)
            self.forward = None

    def switch(self, candidate: Candidate) -> str:
        """Roll the stable Deployment to the new image; undo the rollout if it fails."""
        self._stop_forward()
        stable = f"deployment/{self.config.deployment}"
        container = f"{self.config.container}={self.image(candidate.version)}"
        self.check(self.kubectl("set", "image", stable, container))
        try:
            self._rollout(self.config.deployment)
        except CommandError:
            self.query(self.kubectl("rollout", "undo", stable))
            raise
        return f"{stable} rolled out {candidate.version}"

    def _delete_candidate(self) -> None:
        self.query(self.kubectl("delete", "deployment", self.candidate_name, "--ignore-not-found"))

    def drain(self, candidate: Candidate) -> str:
        """Delete the candidate Deployment (Kubernetes drains the old pods itself)."""
        self._delete_candidate()
        return "old pods drained by the rolling update; candidate removed"

    def discard(self, candidate: Candidate) -> str:
        """Delete the candidate; the stable Deployment was never touched."""
        self._stop_forward()
        self._delete_candidate()
        return f"deleted deployment/{self.candidate_name}"

    def status(self) -> dict[str, Any]:
        """The stable Deployment's image and readiness."""
        command = self.kubectl("get", "deployment", self.config.deployment, "-o", "json")
        try:
            data = json.loads(self.check(command))
        except CommandError as error:
            return {"error": one_line(error)}
        return {
            "image": data["spec"]["template"]["spec"]["containers"][0]["image"],
            "replicas": data.get("status", {}).get("replicas"),
            "ready": data.get("status", {}).get("readyReplicas"),
        }

    def down(self) -> list[str]:
        """Scale the Deployment to zero."""
        self.check(self.kubectl("scale", f"deployment/{self.config.deployment}", "--replicas=0"))
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
