"""What the deploy tasks do, and the exit codes they end with: 2 for a refusal before
anything changes, 1 for a failed step (tests/e2e runs the failing steps for real)."""

from __future__ import annotations

import json
import os
import re
import socket
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from ops.core.console import Console
from ops.core.exits import CANNOT_RUN, CannotRun
from ops.deploy import operations, views
from ops.deploy.context import open_context
from ops.deploy.version import VersionError
from ops.environments import EnvironmentProblem
from tests.support.invoke import run_invoke, subprocess_env


@pytest.fixture
def definitions(tmp_path: Path) -> Path:
    """A directory holding one local environment, ``solo``, that nothing runs."""
    directory = tmp_path / "environments"
    directory.mkdir()
    (directory / "solo.toml").write_text(
        f'platform = "local"\npublic_url = "http://127.0.0.1:9"\nseed_demo_data = true\n'
        f'[local]\nstate_dir = "{tmp_path / "state"}"\nproxy_port = 9\n'
    )
    return directory


@pytest.fixture
def env(definitions: Path) -> dict[str, str]:
    # The uv nox uses ($UV), as a deploy would find it; none on PATH is assumed.
    uv = {"UV": os.environ["UV"]} if os.environ.get("UV") else {}
    return {"DEPLOY_ENVIRONMENTS_DIR": str(definitions), "PATH": os.environ["PATH"], **uv}


def quiet() -> Console:
    return Console(interactive=False)


def test_refusals_are_one_line_and_exit_2(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    refusals: list[tuple[Callable[[], object], str]] = [
        (lambda: operations.rollback("solo", env, quiet()), "no earlier successful release"),
        (lambda: operations.rollback("solo", env, quiet(), to="v0"), "release v0 is not kept"),
        (lambda: operations.rollback("solo", env, quiet(), to="no spaces"), "is invalid"),
        (lambda: operations.status("gone", env, quiet()), "unknown environment 'gone'"),
        (lambda: operations.deploy("solo", env, quiet(), version="../x"), "is invalid"),
        (
            lambda: operations.deploy("solo", env, quiet(), version="v1", image="r/a:v1@sha256:0"),
            "--image: the local platform deploys from source; an image by digest is for Kubernetes",
        ),
    ]
    for refuse, message in refusals:
        with pytest.raises(CannotRun, match=message) as refused:
            refuse()
        assert refused.value.exit_code == CANNOT_RUN
        assert "\n" not in str(refused.value)
    monkeypatch.setattr(sys, "executable", "/nonexistent/python")
    missing_tools = {**{k: v for k, v in env.items() if k != "UV"}, "PATH": "/nonexistent"}
    with pytest.raises(CannotRun, match="uv not found") as no_uv:
        operations.deploy("solo", missing_tools, quiet(), version="v1")
    assert no_uv.value.exit_code == CANNOT_RUN


def test_what_the_state_says_when_nothing_ran(
    env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert operations.unlock("solo", env, quiet()) == "solo is not locked"
    assert operations.down("solo", env, quiet()) == []
    assert operations.releases("solo", env, quiet())["kept"] == []
    report = operations.status("solo", env, quiet())
    assert report["serving_version"] is None
    assert not report["public"]["reachable"]
    out = capsys.readouterr().out
    assert "nothing was running" in out
    assert "serving       nothing" in out
    assert "lock          free" in out


def test_a_live_lock_needs_force(env: dict[str, str], tmp_path: Path) -> None:
    lock = open_context("solo", env, check_tools=False).lock_path
    lock.parent.mkdir(parents=True)
    holder = {
        "holder": "ana", "host": socket.gethostname(), "pid": os.getpid(),
        "version": "v3", "started_at": "now", "message": "deploying",
    }  # fmt: skip
    lock.write_text(json.dumps(holder))
    with pytest.raises(CannotRun, match="not stale: pass --force to release it anyway"):
        operations.unlock("solo", env, quiet())
    planned = operations.unlock("solo", env, quiet(), force=True, dry_run=True)
    assert planned.startswith("dry run: would release the lock held by ana@")
    assert lock.exists(), "a dry run changes nothing"
    report = tmp_path / "unlock.json"
    said = operations.unlock("solo", env, Console(report=report), force=True)
    assert said.startswith("released the lock held by ana@")
    assert not lock.exists()
    result = json.loads(report.read_text())
    assert (result["released"], result["dry_run"]) == (True, False)
    assert result["holder"].startswith("ana@")


def test_down_reports_and_a_dry_run_stops_nothing(env: dict[str, str], tmp_path: Path) -> None:
    report = tmp_path / "down.json"
    assert operations.down("solo", env, Console(report=report), dry_run=True) == []
    planned = json.loads(report.read_text())
    assert planned["dry_run"] is True
    assert planned["running"]["proxy"]["running"] is False
    operations.down("solo", env, Console(report=report))
    assert json.loads(report.read_text()) == {
        "environment": "solo",
        "dry_run": False,
        "stopped": [],
    }


def test_status_json_and_report(
    env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "status.json"
    operations.status("solo", env, Console(as_json=True, report=report, interactive=False))
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(report.read_text())
    assert printed["environment"] == "solo"


def test_rendered_status_and_releases() -> None:
    status = views.render_status(
        {
            "environment": "local", "platform": "local", "public_url": "http://x",
            "serving_version": "v2", "lock": "ana@h", "lock_stale": True,
            "public": {"reachable": False, "error": "ConnectError"},
            "proxy": {"running": True, "port": 8080, "pid": 42},
            "slots": {"blue": {"version": None, "pid": None, "running": False, "serving": False},
                      "green": {"version": "v2", "pid": 7, "running": True, "serving": True}},
        }
    )  # fmt: skip
    assert "slot green    v2 (pid 7)  <- serving" in status
    assert "public answer unreachable (ConnectError)" in status
    assert "lock          ana@h (stale: invoke unlock --env NAME)" in status
    releases = views.render_releases(
        {"environment": "local", "serving": "v2", "kept": ["v1", "v2"], "history": [
            {"started_at": "t", "action": "deploy", "version": "v2", "result": "failed",
             "duration_seconds": 1.5, "who": "ana", "reason": "smoke: 500"}]}
    )  # fmt: skip
    assert "v2  <- serving" in releases
    assert "smoke: 500" in releases


def test_pre_deploy_backup_runs_the_backup_in_process(definitions: Path, tmp_path: Path) -> None:
    from app.db import migrate

    (definitions / "guarded.toml").write_text(
        'platform = "local"\npublic_url = "http://127.0.0.1:9"\npre_deploy_backup = true\n'
        f'[backup]\nlocal_dir = "{tmp_path / "backups"}"\n'
        f'[local]\nstate_dir = "{tmp_path / "guarded"}"\nproxy_port = 9\n'
    )
    env = subprocess_env({"DEPLOY_ENVIRONMENTS_DIR": str(definitions)})
    context = open_context("guarded", env, check_tools=False)
    with pytest.raises(CannotRun, match=r"^SQLite database .*trading.db does not exist$"):
        operations.pre_deploy_backup(context, quiet())
    context.environment.shared_data_dir.mkdir(parents=True)
    migrate.upgrade(context.environment.database_url({}))
    taken = operations.pre_deploy_backup(context, quiet())
    assert re.fullmatch(r"backup \S+ taken and verified", taken)
    [manifest] = list((tmp_path / "backups").rglob("manifest.json"))
    assert manifest.parent.name in taken
    report = json.loads((context.reports_dir / operations.PRE_DEPLOY_BACKUP_REPORT).read_text())
    assert report["backups"][0]["verification"]["ok"] is True


def test_the_tasks_exit_2_on_a_refusal_and_0_on_a_dry_run(
    env: dict[str, str], tmp_path: Path
) -> None:
    missing = run_invoke("deploy", env=env)
    assert (missing.returncode, missing.stderr.strip()) == (
        CANNOT_RUN, "error: --env is required (environment name (deploy/environments/NAME.toml))"
    )  # fmt: skip
    unknown = run_invoke("status", "--env", "nope", env=env)
    assert (unknown.returncode, unknown.stderr.strip()) == (
        CANNOT_RUN, "error: unknown environment 'nope' (defined: solo)"
    )  # fmt: skip
    nothing = run_invoke("rollback", "--env", "solo", env=env)
    assert nothing.returncode == CANNOT_RUN
    report = tmp_path / "plan.json"
    args = ("--env", "solo", "--version", "v1", "--dry-run", "--json", "--report", str(report))
    planned = run_invoke("deploy", *args, env=env)
    assert planned.returncode == 0, planned.stderr
    record = json.loads(planned.stdout)
    assert (record["result"], record["plan"][0]) == ("dry-run", "lock")
    assert json.loads(report.read_text()) == record
    assert " 1. lock" in planned.stderr, "progress goes to stderr under --json"


def test_environment_problems_are_refusals() -> None:
    assert issubclass(EnvironmentProblem, CannotRun)
    assert issubclass(VersionError, CannotRun)
