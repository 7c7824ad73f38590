"""The invoke tasks: wiring, JSON output, and one-line errors with the exit codes of
ops.core.exits (2: cannot run, 1: a check failed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from invoke.context import Context
from invoke.exceptions import Exit

from ops.backup import create
from ops.backup.layout import object_key
from ops.core.exits import CANNOT_RUN, CHECK_FAILED
from ops.tasks import backup as tasks
from tests.ops.backup.helpers import flip_byte
from tests.support.invoke import run_invoke
from tests.support.workspace import Workspace


@pytest.fixture
def environ(seeded: Workspace, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    """The seeded workspace's variables in this process's environment."""
    for key, value in seeded.env().items():
        monkeypatch.setenv(key, value)
    return seeded


def test_the_tasks_are_in_the_namespace() -> None:
    from tasks import namespace

    names = set(namespace.task_names)
    expected = {"backup.db", "backup.config", "backup.state", "backup.all", "backup.list"}
    assert expected | {"backup.verify", "backup.prune", "restore", "dr-drill"} <= names


def test_backup_list_verify_prune_restore_in_process(
    environ: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    c = Context()
    tasks.backup_db(c, env="demo", json_=True, verify=True)
    result = json.loads(capsys.readouterr().out)
    backup_id = result["backups"][0]["manifest"]["id"]
    assert result["backups"][0]["verification"]["ok"]
    tasks.backup_config(c, env="demo", dry_run=True)
    tasks.backup_state(c, env="demo")
    tasks.backup_list(c, env="demo")
    assert backup_id in capsys.readouterr().out
    tasks.backup_verify(c, env="demo", id_=backup_id, report=str(tmp_path / "verify.json"))
    assert json.loads((tmp_path / "verify.json").read_text())["verifications"][0]["ok"]
    tasks.backup_prune(c, env="demo")
    assert "0 backups to delete; dry run" in capsys.readouterr().out
    target = tmp_path / "restored.db"
    tasks.restore(c, env="demo", backup=backup_id, target=f"sqlite:///{target}", dry_run=True)
    assert not target.exists()
    assert "dry run: nothing written" in capsys.readouterr().out
    tasks.restore(c, env="demo", backup=backup_id, target=f"sqlite:///{target}", json_=True)
    restored = json.loads(capsys.readouterr().out)
    assert restored["result"]["backup"] == backup_id
    assert target.exists()


def test_backup_all_in_process(environ: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    tasks.backup_all(Context(), env="demo")
    out = capsys.readouterr().out
    assert all(f"backup demo/{kind} " in out for kind in ("db", "config", "state"))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: tasks.backup_db(c), "error: --env is required (the environment: deploy/"),
        (lambda c: tasks.backup_db(c, env="nope"), "error: unknown environment 'nope'"),
        (lambda c: tasks.backup_verify(c, env="demo"), "say which backups to verify"),
        (lambda c: tasks.backup_verify(c, env="demo", latest=True), "no complete db backup"),
        (lambda c: tasks.backup_verify(c, env="demo", id_="x"), "no complete db backup 'x'"),
        (lambda c: tasks.backup_list(c, env="demo", kind="logs"), "unknown backup kind 'logs'"),
        (lambda c: tasks.restore(c, env="demo"), "--target is required"),
        (lambda c: tasks.restore(c, env="demo", target="sqlite:///x.db"), "no complete db backup"),
        (lambda c: tasks.dr_drill(c), "error: --env is required"),
    ],
)
def test_bad_input_cannot_run(environ: Workspace, call: object, message: str) -> None:
    with pytest.raises(Exit) as caught:
        call(Context())  # type: ignore[operator]
    assert caught.value.code == CANNOT_RUN
    assert message in str(caught.value.message)
    assert "\n" not in str(caught.value.message)


def test_a_failed_drill_is_a_failed_check(environ: Workspace, tmp_path: Path) -> None:
    with pytest.raises(Exit) as caught:
        tasks.dr_drill(Context(), env="demo", report_dir=str(tmp_path))
    assert caught.value.code == CHECK_FAILED
    assert "failed: select backup: no complete db backup" in str(caught.value.message)


def test_a_failed_verification_is_a_failed_check(
    environ: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    tasks.backup_db(Context(), env="demo", json_=True)
    manifest = json.loads(capsys.readouterr().out)["backups"][0]["manifest"]
    path = environ.root / "store" / object_key("demo", "db", manifest["id"], "database.sqlite3.gz")
    path.write_bytes(flip_byte(path.read_bytes()))
    with pytest.raises(Exit) as caught:
        tasks.backup_verify(Context(), env="demo", latest=True)
    assert caught.value.code == CHECK_FAILED
    assert "1 of 1 backups failed verification: object " in str(caught.value.message)


def _assert_one_line(done: object, message: str, code: int = CANNOT_RUN) -> None:
    assert done.returncode == code, done.stdout  # type: ignore[attr-defined]
    lines = done.stderr.strip().splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1, done.stderr  # type: ignore[attr-defined]
    assert message in lines[0]


def test_cli_unknown_environment(workspace: Workspace) -> None:
    done = run_invoke("backup.db", "--env", "qa", env=workspace.env())
    _assert_one_line(done, "error: unknown environment 'qa' (defined: none)")


def test_cli_a_corrupt_backup_fails_verification(seeded: Workspace) -> None:
    context = seeded.context("demo")
    manifest = create.run(context, "db")
    key = object_key("demo", "db", manifest.id, manifest.objects[0].name)
    context.storage.put_bytes(key, flip_byte(context.storage.get_bytes(key)))
    done = run_invoke("backup.verify", "--env", "demo", "--latest", env=seeded.env())
    _assert_one_line(done, f"backups failed verification: object {key}: sha256", CHECK_FAILED)


def test_cli_wrong_s3_credentials(seeded: Workspace) -> None:
    seeded.define("demo", storage="s3")
    done = run_invoke(
        "backup.db", "--env", "demo", env=seeded.env(AWS_SECRET_ACCESS_KEY="Wr0ng-s3cret")
    )
    _assert_one_line(done, "access denied")
    assert "Wr0ng-s3cret" not in done.stderr
    assert seeded.s3 is not None
    assert seeded.s3.endpoint in done.stderr


def test_cli_unreachable_endpoint(seeded: Workspace) -> None:
    seeded.define("demo", storage="s3")
    env = seeded.env(BACKUP_S3_ENDPOINT_URL="http://127.0.0.1:9")
    done = run_invoke("backup.list", "--env", "demo", env=env)
    _assert_one_line(done, "S3 http://127.0.0.1:9 bucket backups-test")
    assert done.stderr.strip().endswith("endpoint unreachable")


def test_cli_backup_and_drill_json(seeded: Workspace, tmp_path: Path) -> None:
    seeded.define("demo", storage="s3")
    done = run_invoke("backup.db", "--env", "demo", "--json", env=seeded.env())
    assert done.returncode == 0, done.stderr
    manifest = json.loads(done.stdout)["backups"][0]["manifest"]
    assert manifest["database"]["backend"] == "sqlite"
    drill = run_invoke(
        "dr-drill", "--env", "demo", "--json", "--report-dir", str(tmp_path),
        "--report", str(tmp_path / "drill.json"), env=seeded.env(),
    )  # fmt: skip
    assert drill.returncode == 0, drill.stderr
    report = json.loads(drill.stdout)
    assert report["ok"]
    assert json.loads((tmp_path / "drill.json").read_text()) == report
    assert "  ok   select backup" in drill.stderr  # the steps, as they end, on stderr
    assert report["backup_id"] == manifest["id"]
    assert report["rto_seconds"] > 0
    assert report["rpo_seconds"] >= 0
    assert (tmp_path / "demo" / f"{report['drill_id']}.md").exists()
