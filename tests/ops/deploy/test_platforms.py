"""The kubernetes and railway platforms' command sequences (no cluster here: a recorder)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ops.core.commands import CommandFailed, run
from ops.core.exits import CANNOT_RUN, CannotRun
from ops.deploy.gates import Target
from ops.deploy.platforms import PlatformError, platform_for
from ops.deploy.platforms.base import Candidate
from ops.deploy.platforms.kubernetes import KubernetesPlatform
from ops.deploy.platforms.railway import RailwayPlatform
from ops.environments import load_environment
from tests.ops.deploy.recorder import Recorder

TASK_ENV = {"PATH": "/usr/bin:/bin", "KUBECONFIG": "/home/ci/.kube/config"}


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
        "apply -k",
        "apply -f",
        "wait --for=condition=complete",
        "get deployment",
        "apply -f",
        "rollout status",
        "set image",
        "rollout status",
        "delete deployment",
    ]
    kubectl = [c for c in recorder.commands if c[0] == "kubectl"]
    assert all(c[:3] == ["kubectl", "--namespace", "trading-staging"] for c in kubectl)
    assert all(env == TASK_ENV for env in recorder.envs), "commands get the task's variables"
    job = json.loads(str(recorder.stdin[3]))
    assert job["spec"]["template"]["spec"]["containers"][0]["command"][-1] == "migrate"
    assert job["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":v2")
    candidate_manifest = json.loads(str(recorder.stdin[6]))
    assert candidate_manifest["metadata"]["name"] == "trading-api-candidate"
    assert candidate_manifest["spec"]["template"]["metadata"]["labels"]["track"] == "candidate"
    assert "api=ghcr.io/example/trading-api:v2" in recorder.commands[8]


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


def test_platform_for_each_kind() -> None:
    staging = load_environment("staging")
    assert platform_for(staging, {}, {}).name == "kubernetes"
    assert platform_for(load_environment("local"), {}, {}).name == "local"
    railway_env = staging.model_copy(update={"platform": "railway"})
    assert platform_for(railway_env, {}, {}).name == "railway"
