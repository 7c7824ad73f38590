"""The deploy pipeline's decisions, on an in-memory platform (no processes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.services.seed import DEMO_PASSWORD
from ops.deploy import gates as deploy_gates
from ops.deploy import pipeline
from ops.deploy.audit import DeployRecord
from ops.deploy.gates import GateResult, Target
from ops.deploy.pipeline import DeployFailed, DeployRequest, Pipeline, smoke_credentials
from ops.deploy.platforms.base import Candidate, PlatformError
from ops.environments import EnvironmentDefinition, load_environment


class FakePlatform:
    name = "fake"

    def __init__(self, serving: str | None = "v1", fail_at: str | None = None) -> None:
        self.serving = serving
        self.fail_at = fail_at
        self.calls: list[str] = []

    def _do(self, step: str, version: str) -> None:
        self.calls.append(f"{step} {version}")
        if self.fail_at == f"{step} {version}":
            raise PlatformError(f"{step} broke")

    def preflight(self) -> None:
        return

    def serving_version(self) -> str | None:
        return self.serving

    def available_versions(self) -> list[str]:
        return ["v1"]

    def build(self, version: str, source: Path) -> str:
        self._do("build", version)
        return "built"

    def migrate(self, version: str) -> str:
        self._do("migrate", version)
        return "migrated"

    def start(self, version: str) -> Candidate:
        self._do("start", version)
        return Candidate(version, Target("http://candidate"), "blue")

    def alive(self, candidate: Candidate) -> bool:
        return True

    def logs(self, candidate: Candidate, lines: int = 20) -> str:
        return "boom at line 3"

    def switch(self, candidate: Candidate) -> str:
        self._do("switch", candidate.version)
        self.serving = candidate.version
        return "switched"

    def drain(self, candidate: Candidate) -> str:
        self._do("drain", candidate.version)
        return "drained"

    def discard(self, candidate: Candidate) -> str:
        self._do("discard", candidate.version)
        return "discarded"

    def status(self) -> dict[str, Any]:
        return {}

    def down(self) -> list[str]:
        return []

    def prune(self, keep: int, protect: set[str]) -> list[str]:
        return []


def environment(tmp_path: Path, **updates: Any) -> EnvironmentDefinition:
    base = load_environment("local")
    local = base.local.model_copy(update={"state_dir": str(tmp_path / "state")})
    return base.model_copy(update={"local": local, **updates})


@pytest.fixture
def gates_pass(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    served: list[str] = []
    monkeypatch.setattr(deploy_gates, "wait_ready", lambda *a, **k: GateResult("r", True, "ready"))
    monkeypatch.setattr(
        deploy_gates, "smoke", lambda *a, **k: [GateResult("smoke:health", True, "ok")]
    )
    monkeypatch.setattr(deploy_gates, "latency", lambda *a, **k: GateResult("l", True, "fast"))

    def verify(self: Pipeline, version: str) -> str:
        served.append(version)
        if version.startswith("unverifiable"):
            raise pipeline.StepFailed(f"does not serve {version}")
        return f"serves {version}"

    monkeypatch.setattr(Pipeline, "_verify", verify)
    monkeypatch.setattr(pipeline, "send", lambda *a, **k: pipeline_delivery())
    return served


def pipeline_delivery() -> Any:
    from ops.core.notify import Delivery

    return Delivery(False, "no webhook configured")


def run(tmp_path: Path, platform: FakePlatform, version: str = "v2", **kwargs: Any) -> Pipeline:
    env = kwargs.pop("env", None) or environment(tmp_path)
    request = DeployRequest(env, version, interactive=False, **kwargs)
    lines: list[str] = []
    job = Pipeline(request, platform, {}, out=lines.append, backup=kwargs.get("backup"))
    job.lines = lines  # type: ignore[attr-defined]
    return job


def test_success_runs_every_step_in_order(tmp_path: Path, gates_pass: list[str]) -> None:
    platform = FakePlatform()
    job = run(tmp_path, platform)
    record = job.run()
    assert record.result == "succeeded"
    assert [s.name for s in record.steps] == [
        "lock", "build", "migrate", "start", "readiness", "smoke", "latency",
        "switch", "drain", "verify", "prune",
    ]  # fmt: skip
    assert platform.calls == ["build v2", "migrate v2", "start v2", "switch v2", "drain v2"]
    assert job.audit.records()[-1]["result"] == "succeeded"
    assert not (tmp_path / "state" / "deploy.lock").exists(), "the lock is released"


def test_dry_run_touches_nothing(tmp_path: Path, gates_pass: list[str]) -> None:
    platform = FakePlatform()
    record = run(tmp_path, platform, dry_run=True).run()
    assert record.result == "dry-run"
    assert platform.calls == []
    assert not (tmp_path / "state").exists()


def test_gate_failure_discards_the_candidate(
    tmp_path: Path, gates_pass: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        deploy_gates, "smoke", lambda *a, **k: [GateResult("smoke:login", False, "401")]
    )
    platform = FakePlatform()
    job = run(tmp_path, platform)
    with pytest.raises(DeployFailed, match="smoke: smoke:login: 401"):
        job.run()
    assert platform.calls[-1] == "discard v2"
    assert "switch v2" not in platform.calls
    assert platform.serving == "v1"
    assert any("boom at line 3" in line for line in job.lines)  # type: ignore[attr-defined]
    assert job.audit.records()[-1]["result"] == "failed"


def test_failed_verification_rolls_back_through_the_gates(
    tmp_path: Path, gates_pass: list[str]
) -> None:
    platform = FakePlatform()
    job = run(tmp_path, platform, version="unverifiable-v2")
    with pytest.raises(DeployFailed, match="rolled back to v1"):
        job.run()
    assert platform.calls[-3:] == ["start v1", "switch v1", "drain v1"]
    assert platform.serving == "v1"
    assert gates_pass == ["unverifiable-v2", "v1"]
    assert job.audit.records()[-1]["result"] == "rolled_back"


def test_build_failure_changes_nothing(tmp_path: Path, gates_pass: list[str]) -> None:
    platform = FakePlatform(fail_at="build v2")
    with pytest.raises(DeployFailed, match="build: build broke"):
        run(tmp_path, platform).run()
    assert platform.calls == ["build v2"]


def test_production_needs_approval(tmp_path: Path, gates_pass: list[str]) -> None:
    production = environment(tmp_path, approval_required=True, name="production")
    platform = FakePlatform()
    with pytest.raises(DeployFailed, match="needs approval: run interactively, or pass --yes"):
        run(tmp_path, platform, env=production).run()
    assert platform.calls == []

    approved = run(tmp_path, platform, env=production, yes=True)
    assert approved.run().steps[1].detail == "approved with --yes"


def test_interactive_confirmation(tmp_path: Path, gates_pass: list[str]) -> None:
    production = environment(tmp_path, approval_required=True, name="production")
    declined = Pipeline(
        DeployRequest(production, "v2", interactive=True), FakePlatform(), {},
        out=lambda _: None, confirm=lambda _: False,
    )  # fmt: skip
    with pytest.raises(DeployFailed, match="not approved"):
        declined.run()
    accepted = Pipeline(
        DeployRequest(production, "v2", interactive=True), FakePlatform(), {},
        out=lambda _: None, confirm=lambda _: True,
    )  # fmt: skip
    assert accepted.run().result == "succeeded"


def test_pre_deploy_backup_gates_the_deploy(tmp_path: Path, gates_pass: list[str]) -> None:
    guarded = environment(tmp_path, pre_deploy_backup=True)

    def failing_backup(_env: EnvironmentDefinition, _secrets: dict[str, str]) -> str:
        raise PlatformError("storage unreachable")

    platform = FakePlatform()
    request = DeployRequest(guarded, "v2", interactive=False)
    with pytest.raises(DeployFailed, match="backup: storage unreachable"):
        Pipeline(request, platform, {}, out=lambda _: None, backup=failing_backup).run()
    assert platform.calls == []
    ok = Pipeline(request, platform, {}, out=lambda _: None, backup=lambda e, s: "backup 123")
    assert ok.run().steps[1].detail == "backup 123"


def test_lock_held_is_refused_and_recorded(tmp_path: Path, gates_pass: list[str]) -> None:
    first = run(tmp_path, FakePlatform())
    first.lock.acquire("v9", "another deploy")
    second = run(tmp_path, FakePlatform())
    with pytest.raises(DeployFailed, match="is held by"):
        second.run()
    assert second.audit.records()[-1]["result"] == "refused"


def test_unexpected_errors_fail_the_step_cleanly(
    tmp_path: Path, gates_pass: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    platform = FakePlatform()
    monkeypatch.setattr(platform, "migrate", lambda version: 1 / 0)
    with pytest.raises(DeployFailed, match="migrate: unexpected ZeroDivisionError"):
        run(tmp_path, platform).run()


def test_smoke_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SMOKE_PASSWORD", raising=False)
    local = environment(tmp_path)
    assert smoke_credentials(local, {}).password == DEMO_PASSWORD
    assert smoke_credentials(local, {"SMOKE_PASSWORD": "s3cret-pw"}).password == "s3cret-pw"
    staging = load_environment("staging")
    with pytest.raises(PlatformError, match="SMOKE_PASSWORD: the smoke user's password"):
        smoke_credentials(staging, {})


def test_production_success_is_tagged(
    tmp_path: Path, gates_pass: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    tags: list[str] = []

    def tag(record: DeployRecord) -> str:
        tags.append(record.id)
        return "tagged"

    monkeypatch.setattr(pipeline, "git_tag", tag)
    production = environment(tmp_path, name="production")
    run(tmp_path, FakePlatform(), env=production).run()
    assert len(tags) == 1
