"""The deploy pipeline's decisions, on an in-memory platform (no processes)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from app.services.seed import DEMO_PASSWORD
from ops.core.console import Console
from ops.core.exits import CANNOT_RUN, CHECK_FAILED, CannotRun
from ops.core.git import git
from ops.deploy import gates, pipeline, views
from ops.deploy.context import DeployContext
from ops.deploy.gates import GateFailed, Target
from ops.deploy.history import DeployRecord
from ops.deploy.pipeline import STEPS, DeployFailed, DeployRefused, DeployRequest, DeployRun
from ops.deploy.platforms.base import Candidate, PlatformError
from ops.environments import EnvironmentDefinition, load_environment
from ops.project import ROOT
from tests.support.webhook import Webhook


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
        return Candidate(version, Target("http://candidate"), "blue", notes=["a note"])

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
        return ["v0"]


def environment(tmp_path: Path, **updates: Any) -> EnvironmentDefinition:
    base = load_environment("local")
    local = base.local.model_copy(update={"state_dir": str(tmp_path / "state")})
    return base.model_copy(update={"local": local, **updates})


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every gate passes, but a version named ``unverifiable*`` is never served publicly."""
    verified: list[str] = []
    monkeypatch.setattr(gates, "readiness", lambda *a, **k: "ready")
    monkeypatch.setattr(gates, "smoke", lambda *a, **k: ["healthy", "logged in"])
    monkeypatch.setattr(gates, "latency", lambda *a, **k: "fast")

    def verify(public_url: str, path: str, version: str, timeout: float) -> str:
        verified.append(version)
        if version.startswith("unverifiable"):
            raise GateFailed(f"{public_url} does not serve {version}")
        return f"serves {version}"

    monkeypatch.setattr(gates, "verify", verify)
    return verified


def make_run(
    tmp_path: Path,
    platform: FakePlatform,
    version: str = "v2",
    *,
    env: EnvironmentDefinition | None = None,
    console: Console | None = None,
    variables: dict[str, str] | None = None,
    backup: pipeline.Backup | None = None,
    **request: Any,
) -> DeployRun:
    context = DeployContext(env or environment(tmp_path), {}, platform, variables or {})
    return DeployRun(
        context, DeployRequest(version, **request), console or Console(interactive=False), backup
    )


def test_success_runs_every_step_in_order(
    tmp_path: Path, served: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    platform = FakePlatform()
    summary = tmp_path / "summary.md"
    console = Console(env={"GITHUB_STEP_SUMMARY": str(summary)}, interactive=False)
    job = make_run(tmp_path, platform, console=console)
    record = job.run()
    assert record.result == "succeeded"
    names = [
        "lock", "build", "migrate", "start", "readiness", "smoke", "latency",
        "switch", "drain", "verify", "prune",
    ]  # fmt: skip
    assert record.plan == names
    assert [s.name for s in record.steps] == names
    assert all(step.ok for step in record.steps)
    assert record.steps[3].detail == "v2 started (http://candidate); a note"
    assert record.steps[-1].detail == "removed v0"
    assert platform.calls == ["build v2", "migrate v2", "start v2", "switch v2", "drain v2"]
    assert job.context.history.records()[-1]["result"] == "succeeded"
    report = json.loads((job.context.reports_dir / f"{record.id}.json").read_text())
    assert report["steps"][0]["name"] == "lock"
    assert not job.context.lock_path.exists(), "the lock is released"
    assert "### deploy local: succeeded (v2, was v1)" in summary.read_text()
    out = capsys.readouterr().out
    assert " 1. lock" in out
    assert "  ok   smoke" in out
    assert "deploy succeeded in" in out


def test_the_latency_gate_budget_is_the_books_p95_objective(
    tmp_path: Path, served: list[str], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    budgets: list[tuple[str, float]] = []

    def latency(target: Target, path: str, probes: int, budget_ms: float) -> str:
        budgets.append((path, budget_ms))
        return "fast"

    monkeypatch.setattr(gates, "latency", latency)
    slower_book = {"requests": {pipeline.LATENCY_REQUEST: {"p95_ms": 300}}}
    make_run(tmp_path, FakePlatform(), env=environment(tmp_path, perf=slower_book)).run()
    assert budgets == [("/v1/market/AAPL/book", 300)]
    assert "book p95 <= 300 ms over 20 probes" in capsys.readouterr().out
    assert pipeline.latency_budget_ms(load_environment("local")) == 250


def test_json_prints_only_the_record_on_stdout(
    tmp_path: Path, served: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "run.json"
    console = Console(as_json=True, report=report, interactive=False)
    record = make_run(tmp_path, FakePlatform(), console=console).run()
    captured = capsys.readouterr()
    assert json.loads(captured.out)["id"] == record.id
    assert "ok   verify" in captured.err
    assert json.loads(report.read_text())["result"] == "succeeded"


def test_dry_run_touches_nothing(
    tmp_path: Path, served: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    platform = FakePlatform()
    record = make_run(tmp_path, platform, dry_run=True).run()
    assert record.result == "dry-run"
    assert record.plan[0] == "lock"
    assert record.steps == []
    assert platform.calls == []
    assert not (tmp_path / "state").exists()
    assert "dry run: nothing changed" in capsys.readouterr().out


def test_gate_failure_discards_the_candidate(
    tmp_path: Path,
    served: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def failing(*_args: object) -> list[str]:
        raise GateFailed("smoke:login: log in as alice@example.com: expected 200, got 401")

    monkeypatch.setattr(gates, "smoke", failing)
    platform = FakePlatform()
    job = make_run(tmp_path, platform)
    with pytest.raises(DeployFailed, match=r"^deploy failed: smoke: smoke:login: log in") as failed:
        job.run()
    assert failed.value.exit_code == CHECK_FAILED
    assert platform.calls[-1] == "discard v2"
    assert "switch v2" not in platform.calls
    assert platform.serving == "v1"
    out = capsys.readouterr().out
    assert "boom at line 3" in out
    assert "discarded; v1 keeps serving" in out
    last = job.context.history.records()[-1]
    assert (last["result"], last["reason"][:13]) == ("failed", "smoke: smoke:")
    assert job.candidate is None
    assert job.rolled_back_to is None


def test_failed_verification_rolls_back_through_the_gates(
    tmp_path: Path, served: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    platform = FakePlatform()
    job = make_run(tmp_path, platform, version="unverifiable-v2")
    with pytest.raises(DeployFailed, match=r"; rolled back to v1$") as failed:
        job.run()
    assert failed.value.exit_code == CHECK_FAILED
    assert platform.calls[-3:] == ["start v1", "switch v1", "drain v1"]
    assert platform.serving == "v1"
    assert served == ["unverifiable-v2", "v1"]
    assert job.rolled_back_to == "v1"
    names = [step.name for step in job.record.steps]
    assert names[-8:] == [
        "verify", "start", "readiness", "smoke", "latency", "switch", "drain", "verify",
    ]  # fmt: skip
    assert job.context.history.records()[-1]["result"] == "rolled_back"
    assert "verification failed; rolling back to v1" in capsys.readouterr().out


def test_a_failed_verification_with_nothing_before_fails(tmp_path: Path, served: list[str]) -> None:
    job = make_run(tmp_path, FakePlatform(serving=None), version="unverifiable-v2")
    with pytest.raises(DeployFailed, match=r"does not serve unverifiable-v2$"):
        job.run()
    assert job.rolled_back_to is None
    assert job.record.result == "failed"


def test_a_rollback_that_fails_its_gates_is_a_failure(
    tmp_path: Path, served: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    platform = FakePlatform(fail_at="switch v1")
    job = make_run(tmp_path, platform, version="unverifiable-v2")
    with pytest.raises(
        DeployFailed,
        match=r"^deploy failed: verify: .*; rolling back to v1 failed: switch: switch broke$",
    ):
        job.run()
    assert job.record.result == "failed"
    assert platform.calls[-1] == "discard v1"


def test_build_failure_changes_nothing(tmp_path: Path, served: list[str]) -> None:
    platform = FakePlatform(fail_at="build v2")
    job = make_run(tmp_path, platform)
    with pytest.raises(DeployFailed, match="build: build broke") as failed:
        job.run()
    assert failed.value.exit_code == CHECK_FAILED
    assert platform.calls == ["build v2"]
    assert job.record.result == "failed"


def test_production_needs_approval(tmp_path: Path, served: list[str]) -> None:
    production = environment(tmp_path, approval_required=True, name="production")
    platform = FakePlatform()
    refused = make_run(tmp_path, platform, env=production)
    with pytest.raises(DeployRefused, match="deploy to production needs approval") as caught:
        refused.run()
    assert caught.value.exit_code == CANNOT_RUN
    assert platform.calls == []
    assert refused.record.result == "refused"
    assert not refused.context.lock_path.exists(), "a refusal releases the lock"

    approved = make_run(tmp_path, platform, env=production, yes=True)
    assert approved.run().steps[1].detail == "approved with --yes"


def test_interactive_confirmation(tmp_path: Path, served: list[str]) -> None:
    production = environment(tmp_path, approval_required=True, name="production")
    wrong = Console(interactive=True, ask=lambda _prompt: "yes")
    declined = make_run(tmp_path, FakePlatform(), env=production, console=wrong)
    with pytest.raises(DeployRefused, match=r"^deploy refused: approval: not approved$"):
        declined.run()
    typed = Console(interactive=True, ask=lambda _prompt: "production")
    accepted = make_run(tmp_path, FakePlatform(), env=production, console=typed)
    assert accepted.run().result == "succeeded"


def test_pre_deploy_backup_gates_the_deploy(tmp_path: Path, served: list[str]) -> None:
    guarded = environment(tmp_path, pre_deploy_backup=True)
    seen: list[str] = []

    def failing_backup(context: DeployContext, console: Console) -> str:
        seen.append(context.name)
        raise PlatformError("storage unreachable")

    platform = FakePlatform()
    failed = make_run(tmp_path, platform, env=guarded, backup=failing_backup)
    with pytest.raises(DeployFailed, match="backup: storage unreachable"):
        failed.run()
    assert seen == ["local"]
    assert platform.calls == []
    ok = make_run(tmp_path, platform, env=guarded, backup=lambda context, console: "backup 123")
    assert ok.run().steps[1].detail == "backup 123"
    missing = make_run(tmp_path, FakePlatform(), env=guarded)
    with pytest.raises(DeployFailed, match="backup: no backup function configured"):
        missing.run()


def test_a_rollback_skips_backup_build_and_migrate(tmp_path: Path, served: list[str]) -> None:
    guarded = environment(tmp_path, pre_deploy_backup=True)
    platform = FakePlatform(serving="v2")
    record = make_run(tmp_path, platform, "v1", env=guarded, action="rollback").run()
    assert record.plan[:2] == ["lock", "start"]
    assert platform.calls == ["start v1", "switch v1", "drain v1"]


def test_lock_held_is_refused_and_recorded(tmp_path: Path, served: list[str]) -> None:
    first = make_run(tmp_path, FakePlatform())
    first.lock.acquire("v9", "another deploy")
    second = make_run(tmp_path, FakePlatform())
    with pytest.raises(DeployRefused, match=r"^deploy refused: lock: deploy lock .* is held by"):
        second.run()
    assert second.context.history.records()[-1]["result"] == "refused"
    assert first.context.lock_path.exists(), "the other deploy's lock is left alone"


def test_unexpected_errors_fail_the_step_cleanly(
    tmp_path: Path, served: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    platform = FakePlatform()
    monkeypatch.setattr(platform, "migrate", lambda version: 1 / 0)
    with pytest.raises(DeployFailed, match="migrate: ZeroDivisionError: division by zero"):
        make_run(tmp_path, platform).run()


def test_smoke_credentials(tmp_path: Path) -> None:
    local = DeployContext(environment(tmp_path), {}, FakePlatform(), {})
    assert local.smoke_credentials().password == DEMO_PASSWORD
    with_secret = DeployContext(
        local.environment, {"SMOKE_PASSWORD": "s3cret-pw"}, local.platform, {}
    )
    assert with_secret.smoke_credentials().password == "s3cret-pw"
    staging = load_environment("staging")
    from_variable = DeployContext(staging, {}, local.platform, {"SMOKE_PASSWORD": "var-pass"})
    assert from_variable.smoke_credentials().password == "var-pass"  # pragma: allowlist secret
    short = DeployContext(staging, {}, local.platform, {"SMOKE_PASSWORD": "short"})
    with pytest.raises(CannotRun, match="SMOKE_PASSWORD: must be at least 8 characters"):
        short.smoke_credentials()
    with pytest.raises(CannotRun, match="SMOKE_PASSWORD: the smoke user's password"):
        DeployContext(staging, {}, local.platform, {}).smoke_credentials()


def test_production_success_is_tagged(
    tmp_path: Path,
    served: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    tags: list[str] = []

    def tag(record: DeployRecord) -> str:
        tags.append(record.id)
        return "deploy/production/x"

    monkeypatch.setattr(pipeline, "git_tag", tag)
    production = environment(tmp_path, name="production")
    make_run(tmp_path, FakePlatform(), env=production).run()
    assert len(tags) == 1
    assert "tag: deploy/production/x" in capsys.readouterr().out


def test_a_tag_that_cannot_be_made_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline, "ROOT", tmp_path)
    record = DeployRecord("1", "deploy", "production", "v2", None, "ana", "t")
    assert pipeline.git_tag(record).startswith("not tagged: git -c user.name=ana")


def test_the_tag_names_the_deployer_without_any_git_identity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As on a CI runner: no user.name or user.email anywhere git looks.
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name in (
        "GIT_AUTHOR_NAME",
        "GIT_AUTHOR_EMAIL",
        "GIT_COMMITTER_NAME",
        "GIT_COMMITTER_EMAIL",
    ):
        monkeypatch.delenv(name, raising=False)
    repo = tmp_path / "repo"
    repo.mkdir()
    git("init", "-q", cwd=repo)
    git("-c", "user.name=x", "-c", "user.email=x@x", "commit", "-q", "--allow-empty", "-m", "c",
        cwd=repo)  # fmt: skip
    monkeypatch.setattr(pipeline, "ROOT", repo)
    record = DeployRecord("7", "deploy", "production", "v2", None, "ana", "t")
    assert pipeline.git_tag(record) == "deploy/production/7"
    tagger = git("tag", "-l", "--format=%(taggername) %(taggeremail)", cwd=repo).stdout.strip()
    assert tagger == "ana <deploy@invalid>"


def test_the_step_list_is_the_documented_one() -> None:
    assert [step.name for step in STEPS][:2] == ["lock", "approval"]
    page = (ROOT / "docs" / "deploy.md").read_text()
    assert views.steps_table(STEPS) in page, "docs/deploy.md: regenerate the table of steps"


def test_the_run_is_announced_and_attributed(
    tmp_path: Path, served: list[str], webhook: Webhook
) -> None:
    variables = {"SLACK_WEBHOOK_URL": webhook.url, "GITHUB_ACTOR": "octocat"}
    record = make_run(tmp_path, FakePlatform(), variables=variables).run()
    assert record.who.startswith("octocat (via ")
    text = webhook.texts()[-1]
    assert "deploy local succeeded" in text
    assert "*by:* octocat (via " in text
    assert webhook.url not in text
