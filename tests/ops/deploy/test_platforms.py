"""The kubernetes and railway platforms' command sequences (no cluster here: a recorder)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from ops.deploy.gates import Target
from ops.deploy.platforms import platform_for
from ops.deploy.platforms.base import Candidate, Completed, PlatformError, subprocess_runner
from ops.deploy.platforms.kubernetes import KubernetesPlatform
from ops.deploy.platforms.railway import RailwayPlatform
from ops.environments import load_environment

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
    def __init__(self, fail_on: str | None = None) -> None:
        self.commands: list[list[str]] = []
        self.stdin: list[str | None] = []
        self.fail_on = fail_on

    def __call__(self, command: Sequence[str], stdin: str | None = None) -> Completed:
        self.commands.append(list(command))
        self.stdin.append(stdin)
        joined = " ".join(command)
        if self.fail_on and self.fail_on in joined:
            return Completed(1, "", f"error: {self.fail_on} broke\n")
        if "get replicasets" in joined:
            return Completed(0, json.dumps(REPLICASETS))
        if "jsonpath" in joined:
            return Completed(0, "ghcr.io/example/trading-api:old")
        if "-o json" in joined:
            return Completed(0, json.dumps(STABLE))
        if joined.startswith("railway variables --kv"):
            return Completed(0, "APP_VERSION=v1\nOTHER=x\n")
        return Completed(0, "ok")

    def verbs(self) -> list[str]:
        return [" ".join(c[3:5]) if c[0] == "kubectl" else " ".join(c[:3]) for c in self.commands]


def kube(recorder: Recorder) -> KubernetesPlatform:
    return KubernetesPlatform(load_environment("staging"), {}, runner=recorder)


def test_kubernetes_deploy_sequence(monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = Recorder()
    platform = kube(recorder)
    monkeypatch.setattr("ops.deploy.platforms.kubernetes.subprocess.Popen", FakeForward)
    assert platform.serving_version() == "old"
    platform.build("v2", Path("."))
    platform.migrate("v2")
    candidate = platform.start("v2")
    assert candidate.target.base_url.startswith("http://127.0.0.1:")
    platform.switch(candidate)
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
    job = json.loads(recorder.stdin[3] or "{}")
    assert job["spec"]["template"]["spec"]["containers"][0]["command"][-1] == "migrate"
    assert job["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":v2")
    candidate_manifest = json.loads(recorder.stdin[6] or "{}")
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


class FakeForward:
    def __init__(self, *_args: object, **_kwargs: object) -> None:
        self.stopped = False

    def poll(self) -> int | None:
        return 0 if self.stopped else None

    def terminate(self) -> None:
        self.stopped = True

    def wait(self, timeout: float) -> int:
        return 0


def test_kubernetes_failed_rollout_is_undone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ops.deploy.platforms.kubernetes.subprocess.Popen", FakeForward)
    recorder = Recorder(fail_on="rollout status deployment/trading-api --")
    platform = kube(recorder)
    candidate = Candidate("v2", Target("http://127.0.0.1:1"), "candidate")
    with pytest.raises(PlatformError, match="kubectl --namespace trading-staging failed: error"):
        platform.switch(candidate)
    assert recorder.commands[-1][3:5] == ["rollout", "undo"]


def test_kubernetes_discard_status_down_and_rollback(monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = Recorder()
    platform = kube(recorder)
    candidate = Candidate("v2", Target("http://127.0.0.1:1"), "candidate")
    assert "deleted deployment/trading-api-candidate" in platform.discard(candidate)
    assert platform.status() == {
        "image": "ghcr.io/example/trading-api:old", "replicas": 2, "ready": 2,
    }  # fmt: skip
    assert platform.down() == ["deployment/trading-api scaled to 0"]
    assert "rolled back" in platform.rollback()
    assert platform.available_versions() == ["v1", "v2", "v3"]
    assert platform.prune(3, set()) == []
    assert "ok" in platform.logs(candidate)
    platform.preflight()


def test_kubernetes_preflight_names_the_problem() -> None:
    platform = kube(Recorder(fail_on="version"))
    with pytest.raises(PlatformError, match="failed: error: version broke"):
        platform.preflight()


def railway(recorder: Recorder, tmp_path: Path) -> RailwayPlatform:
    environment = load_environment("staging").model_copy(update={"platform": "railway"})
    platform = RailwayPlatform(environment, {}, runner=recorder)
    platform.releases.root = tmp_path / "releases"
    return platform


def test_railway_sequence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = Recorder()
    platform = railway(recorder, tmp_path)
    monkeypatch.setenv("RAILWAY_TOKEN", "token-for-test")
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


def test_railway_needs_a_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAILWAY_TOKEN", raising=False)
    monkeypatch.delenv("RAILWAY_API_TOKEN", raising=False)
    with pytest.raises(PlatformError, match="RAILWAY_TOKEN: required"):
        railway(Recorder(), tmp_path).preflight()


def test_railway_discard_redeploys(tmp_path: Path) -> None:
    recorder = Recorder()
    platform = railway(recorder, tmp_path)
    candidate = Candidate("v2", Target("https://x"), "railway")
    assert platform.discard(candidate) == "redeployed the previous deployment"
    assert recorder.commands[-1][:2] == ["railway", "redeploy"]
    assert platform.alive(candidate)
    assert platform.down() == []
    assert "drained by Railway" in platform.drain(candidate)
    assert "status" in platform.status()
    assert platform.logs(candidate) == "ok"


class FakeRelease:
    def __init__(self, path: Path) -> None:
        self.path = path


def test_platform_for_each_kind() -> None:
    staging = load_environment("staging")
    assert platform_for(staging, {}).name == "kubernetes"
    assert platform_for(load_environment("local"), {}).name == "local"
    assert platform_for(staging.model_copy(update={"platform": "railway"}), {}).name == "railway"


def test_subprocess_runner_reports_missing_commands() -> None:
    run = subprocess_runner(timeout=5)
    assert run(["definitely-not-a-command-xyz"]).code == 127
    assert run(["true"]).code == 0
    assert subprocess_runner(0.2)(["sleep", "10"]).code == 124
