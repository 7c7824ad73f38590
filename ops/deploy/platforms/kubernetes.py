"""The ``kubernetes`` platform: kubectl against the manifests under deploy/kubernetes.

The environment's overlay (``manifests_dir``) is rendered with ``kubectl kustomize`` and
must agree with its definition (namespace, the ``[app]`` settings in its generated
ConfigMap, the Ingress host of ``public_url``); the preflight refuses an overlay that does
not, a cluster it cannot reach, or a missing Secret. What the platform steps of the
pipeline do here (each command is unit-tested; a real run needs docker logged in to the
registry, kubectl with a context that has rights in the namespace, and the Secret the
Deployment names, holding DATABASE_URL, REDIS_URL and JWT_SECRET_KEY):

1. build: ``docker build`` and ``docker push`` of the release image (unless the registry
   has it), then ``kubectl apply`` of the rendered overlay *but the stable Deployment*
   (ConfigMap, Services, disruption budget, network policy, Ingress): what serves keeps
   its image and its pod template until the gates have passed.
2. migrate: a Job running ``python -m app migrate`` from the new image, with the pods'
   settings, Secret and security context; wait for it.
3. start: a *candidate* Deployment (label ``track: candidate``, which the Service does not
   select): the rendered stable Deployment with the new image; ``rollout status`` with a
   deadline.
4. gates: through ``kubectl port-forward`` to the candidate.
5. switch: ``kubectl apply`` of the rendered stable Deployment with the new image -- the
   only command that changes what the stable Deployment runs; its readiness probes and
   ``maxUnavailable: 0`` keep serving pods; ``rollout status``, ``rollout undo`` on failure.
6. drain: delete the candidate (pods get their termination grace period).
"""

from __future__ import annotations

import copy
import json
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from ops.core import environ
from ops.core.commands import CommandError
from ops.core.exits import CannotRun, one_line
from ops.core.processes import Process, free_port, listening, wait_for
from ops.deploy.gates import Target
from ops.deploy.history import who
from ops.deploy.platforms.base import Candidate, CommandLinePlatform, PlatformError
from ops.environments import EnvironmentDefinition, KubernetesSettings
from ops.project import ROOT

APP_PORT = 8000
FORWARD_READY_SECONDS = 15.0
# A kubectl command may take as long as the rollout it waits for, and a minute more.
COMMAND_MARGIN_SECONDS = 60
# The stable Deployment's fields the migration Job's pod keeps (settings, Secret, the
# security context an admission policy demands of every pod, writable directories).
JOB_POD_FIELDS = ("securityContext", "automountServiceAccountToken", "volumes")
JOB_CONTAINER_FIELDS = ("env", "envFrom", "resources", "securityContext", "volumeMounts")

Manifest = dict[str, Any]
CHANGE_CAUSE = "kubernetes.io/change-cause"


class KubernetesPlatform(CommandLinePlatform):
    """Rolling updates of one Deployment, gated by a candidate Deployment first."""

    name = "kubernetes"
    forward: Process | None = None  # the port-forward to a started candidate
    _rendered: list[Manifest] | None = None
    pinned: str | None = None  # the image CI built, by digest: deployed as it is

    @cached_property
    def kept_images(self) -> dict[str, str]:
        """Version -> the image a kept revision ran (filled as the revisions are read)."""
        return {}

    def pin_image(self, reference: str, version: str) -> None:
        """Deploy ``reference`` (``REPOSITORY:VERSION@sha256:DIGEST``, as CI pushed it)
        instead of building: its tag must be the version being deployed."""
        tag, digest = tag_of(reference), reference.partition("@")[2]
        if not digest.startswith("sha256:"):
            raise CannotRun(f"--image {reference}: not a digest reference (…@sha256:…)")
        if tag != version:
            raise CannotRun(f"--image {reference}: its tag is {tag or 'missing'}, the version "
                            f"being deployed is {version}")  # fmt: skip
        self.pinned = reference

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
        """The image reference of a version: the pinned one (by digest) for its version, the
        exact one a kept revision ran (a rollback target), else the repository's tag."""
        if self.pinned and tag_of(self.pinned) == version:
            return self.pinned
        if version in self.kept_images:
            return self.kept_images[version]
        return f"{self.repository}:{version}"

    @property
    def repository(self) -> str:
        """Where the images are: ``[kubernetes] image``, else the GitHub repository's own
        package (``ghcr.io/<owner>/<name>``, as CI pushes it)."""
        if self.config.image:
            return self.config.image
        repository = self.env.get("GITHUB_REPOSITORY", "")
        if not repository:
            raise CannotRun(f"{self.environment.name}: no image repository: set [kubernetes] "
                            "image, or GITHUB_REPOSITORY (ghcr.io/<owner>/<name>)")  # fmt: skip
        return f"ghcr.io/{repository.lower()}"

    @property
    def candidate_name(self) -> str:
        """The candidate Deployment's name."""
        return f"{self.config.deployment}-candidate"

    def manifests(self) -> list[Manifest]:
        """The environment's overlay rendered by ``kubectl kustomize`` (once per run)."""
        if self._rendered is None:
            overlay = str(ROOT / self.config.manifests_dir)
            rendered = self.check(["kubectl", "kustomize", overlay])
            self._rendered = [item for item in yaml.safe_load_all(rendered) if item]
        return self._rendered

    def stable_manifest(self, version: str | None = None) -> Manifest:
        """The rendered stable Deployment; with ``version``, running that version's image."""
        found = [m for m in self.manifests() if _is(m, "Deployment", self.config.deployment)]
        if not found:
            raise PlatformError(
                f"{self.config.manifests_dir}: no Deployment {self.config.deployment!r}"
            )
        stable = copy.deepcopy(found[0])
        if version is not None:
            _container(stable, self.config.container)["image"] = self.image(version)
        return stable

    def preflight(self) -> None:
        """kubectl must be installed and reach the cluster, the overlay must agree with the
        environment's definition, and the Secret the pods read must exist."""
        self.require(self.kubectl("version", "--client=true", "--output=json"))
        self.require(self.kubectl("get", "deployment", self.config.deployment, "-o", "name"))
        try:
            problems = definition_problems(self.environment, self.manifests())
            secret = secret_name(self.stable_manifest())
        except (CommandError, PlatformError, yaml.YAMLError) as error:
            raise CannotRun(
                f"{self.name}: {self.config.manifests_dir}: {one_line(error)}"
            ) from None
        if problems:
            raise CannotRun(f"{self.name}: {self.config.manifests_dir}: {'; '.join(problems)}")
        try:
            self.check(self.kubectl("get", "secret", secret, "-o", "name"))
        except CommandError as error:
            raise CannotRun(
                f"{self.name}: the Secret {secret!r} (DATABASE_URL, REDIS_URL, JWT_SECRET_KEY) "
                f"must exist in namespace {self.config.namespace}: {one_line(error)}"
            ) from None

    def serving_version(self) -> str | None:
        """The tag of the stable Deployment's image."""
        jsonpath = "{.spec.template.spec.containers[0].image}"
        image = self.query(
            self.kubectl("get", "deployment", self.config.deployment, "-o", f"jsonpath={jsonpath}")
        )
        return tag_of(image) if image else None

    def available_versions(self) -> list[str]:
        """Image tags of the Deployment's kept revisions (its ReplicaSets), oldest first."""
        selector = f"app={self.config.deployment},track=stable"
        listed = self.query(self.kubectl("get", "replicasets", "-l", selector, "-o", "json"))
        revisions: list[tuple[int, str]] = []
        for item in json.loads(listed or "{}").get("items", []):
            annotations = item.get("metadata", {}).get("annotations", {})
            revision = int(annotations.get("deployment.kubernetes.io/revision", 0))
            image = item["spec"]["template"]["spec"]["containers"][0]["image"]
            version = tag_of(image) or image
            self.kept_images[version] = image  # a rollback runs exactly what ran (by digest)
            revisions.append((revision, version))
        return [tag for _, tag in sorted(revisions)]

    def build(self, version: str, source: Path) -> str:
        """Build and push the release image (once per version), then apply the overlay but
        the stable Deployment, which changes only at the switch."""
        image = self.image(version)
        if self.pinned:
            if self.query(["docker", "manifest", "inspect", image]) is None:
                raise CannotRun(f"{image}: not in the registry (CD deploys what CI pushed)")
            built = f"deploying {image} as CI built and checked it"
        elif environ.in_ci(self.env):
            raise CannotRun("CD deploys the image CI built, by digest: pass --image "
                            "REPOSITORY:VERSION@sha256:DIGEST (never rebuilt here)")  # fmt: skip
        elif self.query(["docker", "manifest", "inspect", image]) is not None:
            built = f"image {image} already in the registry"
        else:
            self.check([
                "docker", "build", "--file", str(source / "deploy" / "Dockerfile"),
                "--tag", image, "--build-arg", f"APP_VERSION={version}",
                "--build-arg", f"GIT_SHA={version}", str(source),
            ])  # fmt: skip
            self.check(["docker", "push", image])
            built = f"built and pushed {image}"
        others = [m for m in self.manifests() if not _is(m, "Deployment", self.config.deployment)]
        self._apply(others)
        return (
            f"{built}; applied {self.config.manifests_dir} but deployment/"
            f"{self.config.deployment} (its image changes at the switch)"
        )

    def _apply(self, manifests: list[Manifest]) -> None:
        """``kubectl apply`` of some manifests, as one List on stdin."""
        listed = {"apiVersion": "v1", "kind": "List", "items": manifests}
        self.check(self.kubectl("apply", "-f", "-"), json.dumps(listed))

    def _config_maps(self) -> list[Manifest]:
        return [m for m in self.manifests() if m.get("kind") == "ConfigMap"]

    def migration_job(self, version: str) -> Manifest:
        """The Job that runs the migrations from the new image, as the pods would run."""
        name = f"{self.config.deployment}-migrate-{version}"[:63].rstrip("-.")
        stable = self.stable_manifest(version)
        pod = stable["spec"]["template"]["spec"]
        serving = _container(stable, self.config.container)
        container = {key: serving[key] for key in JOB_CONTAINER_FIELDS if key in serving}
        container |= {
            "name": "migrate", "image": self.image(version),
            "command": ["python", "-m", "app", "migrate"],
        }  # fmt: skip
        spec = {key: pod[key] for key in JOB_POD_FIELDS if key in pod}
        spec |= {"restartPolicy": "Never", "containers": [container]}
        return {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": name, "labels": {"app": self.config.deployment}},
            "spec": {
                "backoffLimit": 0,
                "ttlSecondsAfterFinished": 3600,
                "template": {"spec": spec},
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
        """Create the candidate Deployment (with the ConfigMap it reads: a rollback has no
        build step), wait for its rollout, and forward a local port to it for the gates."""
        candidate = _candidate_manifest(self.stable_manifest(version), self.candidate_name)
        self._apply([*self._config_maps(), candidate])
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
        """Apply the rendered stable Deployment with the candidate's image; undo the rollout
        if it fails."""
        self._stop_forward()
        stable = f"deployment/{self.config.deployment}"
        manifest = self.stable_manifest(candidate.version)
        # What `kubectl rollout history` shows for the revision this makes.
        cause = f"{candidate.version} ({self.image(candidate.version)}) by {who(self.env)}"
        manifest["metadata"].setdefault("annotations", {})[CHANGE_CAUSE] = cause
        self._apply([manifest])
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


def tag_of(image: str) -> str | None:
    """The tag of an image reference (``registry:5000/name:tag@sha256:…`` → ``tag``)."""
    name = image.strip().partition("@")[0]
    last = name.rsplit("/", 1)[-1]
    return last.rsplit(":", 1)[1] or None if ":" in last else None


def _is(manifest: Manifest, kind: str, name: str) -> bool:
    return bool(manifest.get("kind") == kind and manifest.get("metadata", {}).get("name") == name)


def _container(deployment: Manifest, name: str) -> dict[str, Any]:
    containers: list[dict[str, Any]] = deployment["spec"]["template"]["spec"]["containers"]
    for container in containers:
        if container.get("name") == name:
            return container
    raise PlatformError(f"deployment has no container {name!r}")


def _candidate_manifest(stable: Manifest, name: str) -> Manifest:
    spec = stable["spec"]
    template = copy.deepcopy(spec["template"])
    template["metadata"].setdefault("labels", {})["track"] = "candidate"
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


def secret_name(deployment: Manifest) -> str:
    """The Secret the Deployment's pods read their secrets from (``envFrom``)."""
    names = _sources(deployment, "secretRef")
    if not names:
        raise PlatformError(
            f"deployment/{deployment['metadata']['name']} reads no Secret (envFrom)"
        )
    return names[0]


def _sources(deployment: Manifest, kind: str) -> list[str]:
    """Names of the ``envFrom`` sources of one kind (``secretRef``, ``configMapRef``)."""
    containers = deployment["spec"]["template"]["spec"]["containers"]
    return [str(s[kind]["name"]) for c in containers for s in c.get("envFrom", []) if kind in s]


def app_config(manifests: list[Manifest], deployment: str) -> dict[str, str] | None:
    """The data of the ConfigMap the Deployment's pods read (``envFrom``), if any."""
    names = {
        name
        for manifest in manifests
        if _is(manifest, "Deployment", deployment)
        for name in _sources(manifest, "configMapRef")
    }
    for manifest in manifests:
        if manifest.get("kind") == "ConfigMap" and manifest["metadata"]["name"] in names:
            return {str(k): str(v) for k, v in (manifest.get("data") or {}).items()}
    return None


def definition_problems(environment: EnvironmentDefinition, manifests: list[Manifest]) -> list[str]:
    """Where a rendered overlay disagrees with the environment's definition: the objects'
    namespace, the ConfigMap's settings against ``[app]``, the Ingress hosts against
    ``public_url`` (each problem one phrase)."""
    config = environment.kubernetes
    problems = [
        f"{m['kind']}/{m['metadata']['name']} is in namespace {m['metadata'].get('namespace')!r}, "
        f"not {config.namespace!r}"
        for m in manifests
        if m["metadata"].get("namespace") != config.namespace
    ]
    settings = app_config(manifests, config.deployment)
    if settings is None:
        problems.append(f"deployment/{config.deployment} reads no generated ConfigMap (envFrom)")
    elif settings != environment.app:
        problems.append(
            f"the ConfigMap's settings differ from [app]: {_differences(settings, environment.app)}"
        )
    problems += _ingress_problems(environment, manifests)
    return problems


def _differences(rendered: dict[str, str], wanted: dict[str, str]) -> str:
    keys = sorted(set(rendered) | set(wanted))
    return ", ".join(
        f"{key}={rendered.get(key, '(unset)')!s} (wants {wanted.get(key, '(unset)')!s})"
        for key in keys
        if rendered.get(key) != wanted.get(key)
    )


def _ingress_problems(environment: EnvironmentDefinition, manifests: list[Manifest]) -> list[str]:
    host = urlsplit(environment.public_url).hostname
    problems = []
    for ingress in (m for m in manifests if m.get("kind") == "Ingress"):
        spec, name = ingress["spec"], ingress["metadata"]["name"]
        hosts = {rule.get("host") for rule in spec.get("rules", [])}
        tls_hosts = {h for entry in spec.get("tls", []) for h in entry.get("hosts", [])}
        if hosts != {host}:
            problems.append(
                f"ingress/{name} serves {sorted(map(str, hosts))}, public_url is {host}"
            )
        if environment.public_url.startswith("https://") and host not in tls_hosts:
            problems.append(f"ingress/{name} has no TLS for {host}")
    return problems
