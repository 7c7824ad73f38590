"""The kubernetes and railway platforms' command sequences (no cluster here: a recorder)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from ops.core.commands import CommandFailed, Completed, run
from ops.core.console import Console
from ops.core.exits import CANNOT_RUN, CannotRun
from ops.deploy import gates
from ops.deploy.bucket_lock import StorageLock
from ops.deploy.context import DeployContext, open_context
from ops.deploy.gates import Target
from ops.deploy.lock import LockInfo
from ops.deploy.pipeline import DeployRequest, DeployRun
from ops.deploy.platforms import PlatformError, platform_for
from ops.deploy.platforms.base import Candidate
from ops.deploy.platforms.kubernetes import KubernetesPlatform, tag_of
from ops.deploy.platforms.railway import RailwayPlatform
from ops.environments import load_environment
from ops.storage import open_storage
from ops.storage.s3 import S3Settings, S3Storage
from tests.ops.deploy.recorder import RENDERED, Recorder, railway_environment
from tests.support import s3
from tests.support.invoke import run_invoke
from tests.support.workspace import Workspace

TASK_ENV = {"PATH": "/usr/bin:/bin", "KUBECONFIG": "/home/ci/.kube/config",
            "GITHUB_REPOSITORY": "Example/trading-api"}  # fmt: skip


class FakeForward:
    """Stands in for the ``kubectl port-forward`` process."""

    listens = True

    def __init__(self, command: list[str], **_options: object) -> None:
        self.command = command
        self.stopped = False

    def start(self) -> FakeForward:
        return self

    def alive(self) -> bool:
        return not self.stopped

    def stop(self, grace: float = 0) -> bool:
        self.stopped = True
        return True

    def log_tail(self, lines: int = 30) -> str:
        return "error: unable to forward port"


@pytest.fixture
def forward(monkeypatch: pytest.MonkeyPatch) -> type[FakeForward]:
    monkeypatch.setattr("ops.deploy.platforms.kubernetes.Process", FakeForward)
    monkeypatch.setattr(
        "ops.deploy.platforms.kubernetes.listening", lambda port: FakeForward.listens
    )
    return FakeForward


def kube(recorder: Recorder) -> KubernetesPlatform:
    return KubernetesPlatform(load_environment("staging"), {}, TASK_ENV, runner=recorder)


def test_kubernetes_deploy_sequence(forward: type[FakeForward]) -> None:
    recorder = Recorder()
    platform = kube(recorder)
    assert platform.serving_version() == "old"
    platform.build("v2", Path("."))
    platform.migrate("v2")
    candidate = platform.start("v2")
    assert candidate.target.base_url.startswith("http://127.0.0.1:")
    assert platform.forward is not None
    assert platform.forward.command[3:5] == ["port-forward", "deployment/trading-api-candidate"]
    assert platform.alive(candidate)
    platform.switch(candidate)
    assert not platform.alive(candidate), "the port-forward stops at the switch"
    platform.drain(candidate)
    assert recorder.verbs() == [
        "get deployment",
        "docker manifest inspect",
        "kustomize",
        "apply -f",
        "apply -f",
        "wait --for=condition=complete",
        "apply -f",
        "rollout status",
        "apply -f",
        "rollout status",
        "delete deployment",
    ]
    assert recorder.commands[2][:2] == ["kubectl", "kustomize"], "rendered once, offline"
    assert recorder.commands[2][2].endswith("deploy/kubernetes/overlays/staging")
    kubectl = [c for c in recorder.commands if c[0] == "kubectl" and c[1] != "kustomize"]
    assert all(c[:3] == ["kubectl", "--namespace", "trading-staging"] for c in kubectl)
    assert all(env == TASK_ENV for env in recorder.envs), "commands get the task's variables"
    applied = [(item["kind"], item["metadata"]["name"]) for item in recorder.applied(3)]
    assert applied == [
        ("ConfigMap", "trading-api-config-5f7g2h"), ("Service", "trading-api"),
        ("Ingress", "trading-api"),
    ]  # fmt: skip
    candidate_manifest = recorder.applied(6)[-1]
    assert recorder.applied(6)[0]["kind"] == "ConfigMap", "a rollback has no build step"
    assert candidate_manifest["metadata"]["name"] == "trading-api-candidate"
    template = candidate_manifest["spec"]["template"]
    assert template["metadata"]["labels"] == {"app": "trading-api", "track": "candidate"}
    assert template["spec"]["containers"][0]["image"] == "ghcr.io/example/trading-api:v2"
    [stable] = recorder.applied(8)
    assert stable["metadata"]["name"] == "trading-api"
    assert stable["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":v2")


def test_the_stable_deployment_changes_only_at_the_switch(forward: type[FakeForward]) -> None:
    recorder = Recorder()
    platform = kube(recorder)
    platform.build("v2", Path("."))
    platform.migrate("v2")
    candidate = platform.start("v2")
    gates_passed = len(recorder.commands)  # the pipeline's gates run here
    assert recorder.stable_changes() == [], "nothing before the gates touches what serves"
    platform.switch(candidate)
    assert recorder.stable_changes() == [gates_passed]
    stable_image = recorder.applied(gates_passed)[0]["spec"]["template"]["spec"]["containers"]
    assert stable_image[0]["image"] == "ghcr.io/example/trading-api:v2"


def test_a_candidate_failing_its_gates_never_touches_the_stable_deployment(
    forward: type[FakeForward],
) -> None:
    recorder = Recorder()
    platform = kube(recorder)
    platform.build("v2", Path("."))
    platform.migrate("v2")
    platform.discard(platform.start("v2"))
    assert recorder.stable_changes() == []
    assert recorder.verbs()[-1] == "delete deployment"


def test_the_recorder_sees_every_way_of_changing_the_stable_deployment() -> None:
    recorder = Recorder()
    platform = kube(recorder)
    platform.check(platform.kubectl("apply", "-k", "deploy/kubernetes/overlays/staging"))
    platform.check(platform.kubectl("set", "image", "deployment/trading-api", "api=x:v9"))
    platform.check(platform.kubectl("apply", "-f", "-"), json.dumps(platform.stable_manifest()))
    assert recorder.stable_changes() == [0, 1, 3], "index 2 is the rendering"


def test_the_migration_job_runs_as_the_pods_do() -> None:
    job = kube(Recorder()).migration_job("v2")
    pod = job["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["command"][-1] == "migrate"
    assert container["image"] == "ghcr.io/example/trading-api:v2"
    assert container["envFrom"] == [
        {"configMapRef": {"name": "trading-api-config-5f7g2h"}},
        {"secretRef": {"name": "trading-api"}},
    ]
    assert "readinessProbe" not in container, "a Job's pod has no probes"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["restartPolicy"] == "Never"
    assert pod["volumes"] == [{"name": "tmp", "emptyDir": {}}]


def test_kubernetes_builds_and_pushes_a_missing_image() -> None:
    recorder = Recorder(fail_on="manifest inspect")
    kube(recorder).build("v3", Path("/src"))
    assert [c[:2] for c in recorder.commands[:3]] == [
        ["docker", "manifest"], ["docker", "build"], ["docker", "push"],
    ]  # fmt: skip
    assert "APP_VERSION=v3" in recorder.commands[1]
    assert recorder.commands[1][-1] == "/src"


def test_kubernetes_failed_rollout_is_undone() -> None:
    recorder = Recorder(fail_on="rollout status deployment/trading-api --")
    platform = kube(recorder)
    candidate = Candidate("v2", Target("http://127.0.0.1:1"), "candidate")
    with pytest.raises(
        CommandFailed, match=r"^kubectl --namespace trading-staging failed \(exit 1\): rollout"
    ):
        platform.switch(candidate)
    assert recorder.commands[-1][3:5] == ["rollout", "undo"]


def test_a_port_forward_that_never_listens_fails_the_start(
    forward: type[FakeForward], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ops.deploy.platforms.kubernetes.FORWARD_READY_SECONDS", 0.2)
    forward.listens = False
    try:
        platform = kube(Recorder())
        with pytest.raises(PlatformError, match="did not listen: error: unable to forward port"):
            platform._forward(1)
        assert platform.forward is None
    finally:
        forward.listens = True


def test_kubernetes_discard_status_down_and_logs() -> None:
    recorder = Recorder()
    platform = kube(recorder)
    candidate = Candidate("v2", Target("http://127.0.0.1:1"), "candidate")
    assert "deleted deployment/trading-api-candidate" in platform.discard(candidate)
    assert platform.status() == {
        "image": "ghcr.io/example/trading-api:old", "replicas": 2, "ready": 2,
    }  # fmt: skip
    assert platform.down() == ["deployment/trading-api scaled to 0"]
    assert platform.available_versions() == ["v1", "v2", "v3"]
    assert platform.prune(3, set()) == []
    assert "ok" in platform.logs(candidate)
    platform.preflight()
    assert recorder.verbs()[-2:] == ["kustomize", "get secret"]
    assert recorder.commands[-1][-3:] == ["trading-api", "-o", "name"]


def test_an_unreachable_cluster_cannot_run() -> None:
    platform = kube(Recorder(fail_on="get deployment"))
    with pytest.raises(CannotRun, match=r"^kubernetes: kubectl .* failed \(exit 1\): get") as no:
        platform.preflight()
    assert no.value.exit_code == CANNOT_RUN
    assert platform.status() == {
        "error": "kubectl --namespace trading-staging failed (exit 1): get deployment broke"
    }
    assert platform.serving_version() is None, "unknown is shown as nothing"


def test_a_missing_kubectl_cannot_run() -> None:
    environment = load_environment("staging")
    missing = KubernetesPlatform(environment, {}, {"PATH": "/nonexistent"}, runner=run)
    with pytest.raises(CannotRun, match=r"^kubernetes: kubectl: command not found$"):
        missing.preflight()
    assert missing.available_versions() == []
    assert missing.logs(Candidate("v2", Target("http://x"))) == "kubectl: command not found"


def test_a_missing_secret_cannot_run() -> None:
    platform = kube(Recorder(fail_on="get secret"))
    with pytest.raises(CannotRun, match=r"^kubernetes: the Secret 'trading-api' \(DATABASE_URL"):
        platform.preflight()


DRIFTS = {
    "setting-missing": (
        "  ENVIRONMENT: staging\n", "",
        "the ConfigMap's settings differ from [app]: ENVIRONMENT=(unset) (wants staging)",
    ),
    "setting-differs": ("LOG_LEVEL: INFO", "LOG_LEVEL: DEBUG", "LOG_LEVEL=DEBUG (wants INFO)"),
    "namespace": (
        "trading-staging\nspec:\n  tls", "trading\nspec:\n  tls",
        "Ingress/trading-api is in namespace 'trading', not 'trading-staging'",
    ),
    "ingress-host": (
        "rules: [{host: staging.", "rules: [{host: www.",
        "ingress/trading-api serves ['www.trading.example.com'], "
        "public_url is staging.trading.example.com",
    ),
    "tls": (
        "hosts: [staging.", "hosts: [other.",
        "ingress/trading-api has no TLS for staging.trading.example.com",
    ),
    "no-configmap": (
        "            - configMapRef: {name: trading-api-config-5f7g2h}\n", "",
        "deployment/trading-api reads no generated ConfigMap (envFrom)",
    ),
    "no-secret": (
        "            - secretRef: {name: trading-api}\n", "",
        "deployment/trading-api reads no Secret (envFrom)",
    ),
    "no-deployment": ("kind: Deployment", "kind: StatefulSet", "no Deployment 'trading-api'"),
    "not-yaml": ("data:\n", "data: [\n", "while parsing"),
}  # fmt: skip


@pytest.mark.parametrize(("old", "new", "problem"), DRIFTS.values(), ids=DRIFTS)
def test_an_overlay_that_disagrees_with_its_definition_cannot_run(
    old: str, new: str, problem: str
) -> None:
    assert old in RENDERED
    recorder = Recorder(rendered=RENDERED.replace(old, new, 1))
    with pytest.raises(CannotRun) as refused:
        kube(recorder).preflight()
    assert str(refused.value).startswith("kubernetes: deploy/kubernetes/overlays/staging: ")
    assert problem in str(refused.value)
    assert "get secret" not in recorder.verbs(), "refused before asking for the Secret"


def railway(recorder: Recorder, tmp_path: Path, env: dict[str, str]) -> RailwayPlatform:
    environment = load_environment("staging").model_copy(update={"platform": "railway"})
    platform = RailwayPlatform(environment, {}, env, runner=recorder)
    platform.releases.root = tmp_path / "releases"
    return platform


def test_railway_sequence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = Recorder()
    platform = railway(recorder, tmp_path, {"RAILWAY_TOKEN": "token-for-test"})
    platform.preflight()
    monkeypatch.setattr(platform.releases, "build", lambda version, source: FakeRelease(tmp_path))
    platform.build("v2", Path("."))
    candidate = platform.start("v2")
    assert candidate.target.base_url == "https://staging.trading.example.com"
    assert "pre-deploy command" in platform.migrate("v2")
    assert "health check" in platform.switch(candidate)
    assert [c[:2] for c in recorder.commands] == [
        ["railway", "--version"],
        ["railway", "variables"],
        ["railway", "variables"],
        ["railway", "up"],
    ]
    assert recorder.commands[-1][-4:] == ["--service", "trading-api", "--environment", "production"]
    assert platform.serving_version() == "v1"


def test_railway_needs_a_token(tmp_path: Path) -> None:
    with pytest.raises(CannotRun, match="RAILWAY_TOKEN: required"):
        railway(Recorder(), tmp_path, {}).preflight()
    with pytest.raises(CannotRun, match=r"^railway: railway --version failed \(exit 1\): --ver"):
        railway(Recorder(fail_on="--version"), tmp_path, {"RAILWAY_TOKEN": "t"}).preflight()


def test_railway_discard_redeploys(tmp_path: Path) -> None:
    recorder = Recorder()
    platform = railway(recorder, tmp_path, {})
    candidate = Candidate("v2", Target("https://x"), "railway")
    assert platform.discard(candidate) == "redeployed the previous deployment"
    assert recorder.commands[-1][:2] == ["railway", "redeploy"]
    assert platform.alive(candidate)
    assert platform.down() == []
    assert "drained by Railway" in platform.drain(candidate)
    assert platform.status() == {"status": "ok"}
    assert platform.logs(candidate) == "ok"
    assert platform.available_versions() == []
    assert platform.prune(3, set()) == []


class FakeRelease:
    def __init__(self, path: Path) -> None:
        self.path = path


class LockWatcher(Recorder):
    """A recorder that also reads the deploy lock as each command runs."""

    def __init__(self, lock: StorageLock) -> None:
        super().__init__()
        self.lock = lock
        self.held: list[LockInfo | None] = []
        self.at_upload: Callable[[], object] = lambda: None

    def __call__(self, command: Sequence[str], **options: Any) -> Completed:
        self.held.append(self.lock.read())
        if list(command[:2]) == ["railway", "up"]:
            self.at_upload()
        return super().__call__(command, **options)


def railway_run(
    tmp_path: Path, server: s3.S3Server, monkeypatch: pytest.MonkeyPatch
) -> tuple[DeployRun, LockWatcher]:
    """A Railway deploy of v2 whose gates pass, its commands recorded (and the lock read
    as each runs), its lock and history in the test S3 server's bucket."""
    for gate in ("readiness", "smoke", "latency", "verify"):
        monkeypatch.setattr(gates, gate, lambda *a, **k: "passed")
    environment = railway_environment(tmp_path)
    smoke_password = "smoke-password"  # pragma: allowlist secret
    env = {**server.env(), "RAILWAY_TOKEN": "t", "SMOKE_PASSWORD": smoke_password}
    watcher = LockWatcher(StorageLock(open_storage(environment, env), "staging"))
    platform = RailwayPlatform(environment, {}, env, runner=watcher)
    monkeypatch.setattr(platform.releases, "build", lambda version, source: FakeRelease(tmp_path))
    run = DeployRun(DeployContext(environment, {}, platform, env), DeployRequest("v2"),
                    Console(interactive=False))  # fmt: skip
    return run, watcher


def test_a_railway_deploy_holds_the_bucket_lock_until_it_is_recorded(
    tmp_path: Path, s3_server: s3.S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    run, watcher = railway_run(tmp_path, s3_server, monkeypatch)
    assert isinstance(run.lock, StorageLock)
    record = run.run()
    assert record.result == "succeeded", record.reason
    up = next(i for i, command in enumerate(watcher.commands) if command[:2] == ["railway", "up"])
    during = watcher.held[up]
    assert during is not None, "railway up runs under the lock"
    assert (during.version, during.message, during.pid) == ("v2", "deploy", os.getpid())
    assert watcher.held[0] is None, "the first command (the status) runs before the lock"
    assert watcher.lock.read() is None, "released once the run was recorded"
    assert record.steps[0].detail.startswith("held by ")
    assert [r["version"] for r in run.context.history.records()] == ["v2"]


def test_a_bucket_lock_the_run_cannot_release_is_reported(
    tmp_path: Path,
    s3_server: s3.S3Server,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run, watcher = railway_run(tmp_path, s3_server, monkeypatch)
    lock = run.lock
    assert isinstance(lock, StorageLock)
    unreachable = S3Storage(S3Settings(
        bucket=s3.BUCKET, endpoint_url="http://127.0.0.1:9", region=s3.REGION, max_attempts=1,
        access_key_id=s3_server.access_key, secret_access_key=s3_server.secret_key,
    ))  # fmt: skip
    watcher.at_upload = lambda: setattr(lock, "storage", unreachable)
    assert run.run().result == "succeeded", "the deploy itself is done"
    out = capsys.readouterr().out
    assert "  lock not released: S3 http://127.0.0.1:9 bucket " in out
    assert out.rstrip().endswith("endpoint unreachable")
    assert watcher.lock.read() is not None, "left behind: it goes stale, or invoke unlock"


def railway_definitions(workspace: Workspace, fake_railway: Path) -> dict[str, str]:
    """Two Railway environments (``rw``, and ``rw-nobucket`` whose bucket does not exist)
    and the variables of a task deploying them with ``fake_railway`` on PATH."""
    top = {"platform": "railway", "seed_demo_data": True}
    workspace.define("rw", storage="s3", top=top)
    workspace.define("rw-nobucket", storage="s3", top=top, backup={"s3_bucket": "no-such-bucket"})
    fake_railway.parent.mkdir(parents=True)
    calls = fake_railway.parent / "calls"
    fake_railway.write_text(f'#!/bin/sh\necho "$*" >> {calls}\necho "railway 4.0.0"\n')
    fake_railway.chmod(0o755)
    path = f"{fake_railway.parent}:{os.environ['PATH']}"
    return workspace.env(PATH=path, RAILWAY_TOKEN="t")


def test_invoke_unlock_removes_a_railway_lock_from_the_bucket(
    workspace: Workspace, tmp_path: Path
) -> None:
    env = railway_definitions(workspace, tmp_path / "bin" / "railway")
    lock = open_context("rw", env, check_tools=False).deploy_lock()
    assert isinstance(lock, StorageLock)
    lock.acquire("v9", "a runner deploying")
    live = run_invoke("unlock", "--env", "rw", env=env)
    assert live.returncode == CANNOT_RUN, live.stderr
    assert "not stale: pass --force to release it anyway" in live.stderr
    assert lock.read() is not None
    forced = run_invoke("unlock", "--env", "rw", "--force", env=env)
    assert forced.returncode == 0, forced.stderr
    assert "released the lock held by " in forced.stdout
    assert "deploying v9 since" in forced.stdout
    assert lock.read() is None


def test_a_railway_deploy_to_a_missing_bucket_cannot_run(
    workspace: Workspace, tmp_path: Path
) -> None:
    env = railway_definitions(workspace, tmp_path / "bin" / "railway")
    refused = run_invoke("deploy", "--env", "rw-nobucket", "--version", "v1", "--yes", env=env)
    assert refused.returncode == CANNOT_RUN, refused.stderr
    error = refused.stderr.strip()
    assert "\n" not in error, error
    assert error.startswith("error: S3 "), error
    where = f"bucket no-such-bucket (s3://no-such-bucket/t-{workspace.root.parent.name})"
    assert error.endswith(f"{where}: check: bucket does not exist"), error
    assert (tmp_path / "bin" / "calls").read_text() == "--version\n", "nothing was deployed"


def test_platform_for_each_kind() -> None:
    staging = load_environment("staging")
    assert platform_for(staging, {}, {}).name == "kubernetes"
    assert platform_for(load_environment("local"), {}, {}).name == "local"
    railway_env = staging.model_copy(update={"platform": "railway"})
    assert platform_for(railway_env, {}, {}).name == "railway"


PINNED = "ghcr.io/acme/trading-api:v3@sha256:" + "ab" * 32


def test_the_image_ci_built_is_deployed_by_digest_never_rebuilt(
    forward: type[FakeForward],
) -> None:
    recorder = Recorder()
    platform = kube(recorder)
    platform.pin_image(PINNED, "v3")
    said = platform.build("v3", Path("/src"))
    assert said.startswith(f"deploying {PINNED} as CI built and checked it")
    assert not [c for c in recorder.commands if c[:2] in (["docker", "build"], ["docker", "push"])]
    assert (
        platform.migration_job("v3")["spec"]["template"]["spec"]["containers"][0]["image"] == PINNED
    )
    assert platform.image("v2") == "ghcr.io/example/trading-api:v2"  # a rollback target: by tag


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("ghcr.io/acme/trading-api:v3", "not a digest reference"),
        (PINNED.replace(":v3@", ":v2@"), "its tag is v2, the version being deployed is v3"),
    ],
)  # fmt: skip
def test_an_image_that_is_not_this_versions_digest_cannot_run(reference: str, message: str) -> None:
    with pytest.raises(CannotRun, match=message):
        kube(Recorder()).pin_image(reference, "v3")


def test_a_pinned_image_missing_from_the_registry_cannot_run() -> None:
    platform = kube(Recorder(fail_on="manifest inspect"))
    platform.pin_image(PINNED, "v3")
    with pytest.raises(CannotRun, match=r"not in the registry \(CD deploys what CI pushed\)"):
        platform.build("v3", Path("/src"))


def test_under_ci_kubernetes_refuses_to_build_an_image_of_its_own() -> None:
    platform = KubernetesPlatform(load_environment("staging"), {}, {**TASK_ENV, "CI": "true"},
                                  runner=Recorder(fail_on="manifest inspect"))  # fmt: skip
    with pytest.raises(CannotRun, match="CD deploys the image CI built, by digest: pass --image"):
        platform.build("v3", Path("/src"))


@pytest.mark.parametrize(
    ("image", "tag"),
    [("ghcr.io/a/b:v3", "v3"), (PINNED, "v3"), ("registry:5000/b:v1@sha256:00", "v1"),
     ("registry:5000/b", None), ("b", None)],
)  # fmt: skip
def test_the_tag_of_an_image_reference(image: str, tag: str | None) -> None:
    assert tag_of(image) == tag


def test_the_switch_records_the_change_cause_kubectl_rollout_history_shows() -> None:
    recorder = Recorder()
    platform = KubernetesPlatform(load_environment("staging"), {},
                                  {**TASK_ENV, "GITHUB_ACTOR": "ana"}, runner=recorder)  # fmt: skip
    platform.switch(Candidate("v2", Target("http://127.0.0.1:1"), "candidate"))
    applied = [json.loads(s) for s in recorder.stdin if isinstance(s, str) and "Deployment" in s]
    (deployment,) = [item for listed in applied for item in listed["items"]]
    cause = deployment["metadata"]["annotations"]["kubernetes.io/change-cause"]
    assert cause.startswith("v2 (ghcr.io/example/trading-api:v2) by ana (via ")


def test_a_rollback_runs_exactly_the_image_a_kept_revision_ran() -> None:
    platform = kube(Recorder())
    assert platform.available_versions() == ["v1", "v2", "v3"]
    assert platform.image("v2") == "registry/api:v2"  # what the ReplicaSet ran, not a guess
    assert platform.image("v9") == "ghcr.io/example/trading-api:v9"  # never kept: the setting


def test_the_image_repository_is_the_github_repositorys_own_package() -> None:
    assert kube(Recorder()).repository == "ghcr.io/example/trading-api"  # lower-cased
    nowhere = KubernetesPlatform(load_environment("staging"), {}, {"PATH": "/bin"})
    with pytest.raises(CannotRun, match=r"staging: no image repository: set \[kubernetes\] image"):
        nowhere.image("v1")
