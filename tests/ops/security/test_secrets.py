"""detect-secrets against the reviewed baseline, in the working tree and in git history."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest

from ops.core.exits import CANNOT_RUN, CHECK_FAILED, DONE
from ops.security import secrets
from ops.security.findings import Severity
from ops.security.scanner import ScanError, utc_today
from tests.ops.security.conftest import RunGate, failing, options, require_tool

# AWS's documented example key id, assembled so that this file holds no key itself.
EXAMPLE_KEY = "AKIA" + "IOSFODNN7EXAMPLE"


def test_a_planted_aws_key_fails_and_is_named_without_its_value(
    vulnerable_tree: Path, reports: Path, run_gate: RunGate
) -> None:
    err = failing(run_gate, "detect-secrets", secrets.main, "--root", str(vulnerable_tree))
    assert "high aws-access-key at config/cloud.env:2: new potential secret (AWS Access Key)" in err
    assert EXAMPLE_KEY not in err
    assert EXAMPLE_KEY not in (reports / "secrets.sarif").read_text()


def test_the_repository_passes_against_its_baseline(run_gate: RunGate) -> None:
    require_tool("detect-secrets")
    ran = run_gate(secrets.main)
    assert ran.code == DONE, ran.err


def test_every_baseline_entry_is_reviewed() -> None:
    baseline = json.loads(secrets.BASELINE.read_text())
    verdicts = secrets.reviews(baseline)
    assert verdicts, "the baseline records the reviewed false positives"
    assert set(verdicts.values()) == {False}


def test_the_baseline_verdicts_decide() -> None:
    hit = secrets.Hit("a.py", 3, "Secret Keyword", "h1")
    assert secrets.judge([hit], {("a.py", "h1"): False}) == []
    [unreviewed] = secrets.judge([hit], {("a.py", "h1"): None})
    assert unreviewed.severity is Severity.HIGH
    assert "detect-secrets audit" in unreviewed.message
    [real] = secrets.judge([hit], {("a.py", "h1"): True})
    assert real.severity is Severity.CRITICAL
    assert "rotate it" in real.message
    with pytest.raises(ScanError, match="no results mapping"):
        secrets.hits({"results": []})


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


@pytest.fixture
def repo_with_a_removed_key(tmp_path: Path) -> Path:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "t@example.com")
    git(repo, "config", "user.name", "t")
    (repo / "settings.env").write_text(f"AWS_ACCESS_KEY_ID={EXAMPLE_KEY}\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "add a key")
    (repo / "settings.env").write_text("AWS_REGION=eu-west-1\n")
    git(repo, "commit", "-q", "-am", "remove the key")
    return repo


def test_history_finds_a_key_deleted_from_the_tree(
    repo_with_a_removed_key: Path, run_gate: RunGate
) -> None:
    require_tool("detect-secrets")
    root = ["--root", str(repo_with_a_removed_key)]
    assert run_gate(secrets.main, *root).code == DONE, "the working tree is clean"
    ran = run_gate(secrets.main, *root, "--history")
    assert ran.code == CHECK_FAILED
    found = (
        "history-aws-access-key at settings.env:1: potential secret (AWS Access Key) in git history"
    )
    assert found in ran.err
    assert "as of commit " in ran.err
    assert "rotate a real one" in ran.err
    assert "as rule history-aws-access-key" in ran.err
    assert EXAMPLE_KEY not in ran.err


def history_suppression(tmp_path: Path, rule: str) -> Path:
    """A suppression list accepting ``rule`` of the secrets gate in settings.env."""
    expires = utc_today() + timedelta(days=30)
    path = tmp_path / "suppressions.toml"
    path.write_text(
        f'[[suppression]]\ntool = "secrets"\nrule = "{rule}"\npath = "settings.env"\n'
        'reason = "a documented example key, removed since"\n'
        f'expires = {expires.isoformat()}\nreviewed_by = "test"\n'
    )
    return path


def test_a_past_false_positive_is_accepted_without_covering_the_tree(
    repo_with_a_removed_key: Path, tmp_path: Path, run_gate: RunGate
) -> None:
    require_tool("detect-secrets")
    rule = secrets.history_rule("AWS Access Key")
    assert rule == "history-aws-access-key"
    accepted = ["--suppressions", str(history_suppression(tmp_path, rule))]
    root = ["--root", str(repo_with_a_removed_key)]
    ran = run_gate(secrets.main, *root, "--history", *accepted)
    assert ran.code == DONE, ran.err
    assert "suppressed after review: history-aws-access-key settings.env (x1)" in ran.out

    # The same kind of secret in today's tree is not covered by the history acceptance.
    (repo_with_a_removed_key / "settings.env").write_text(f"AWS_ACCESS_KEY_ID={EXAMPLE_KEY}\n")
    ran = run_gate(secrets.main, *root, "--history", *accepted)
    assert ran.code == CHECK_FAILED
    assert "aws-access-key at settings.env:1: new potential secret (AWS Access Key)" in ran.err


def test_history_needs_a_git_checkout(tmp_path: Path, reports: Path) -> None:
    require_tool("detect-secrets")
    (tmp_path / "file.txt").write_text("nothing here\n")
    with pytest.raises(ScanError, match="--history needs a git checkout"):
        secrets.scan(options(root=tmp_path, reports=reports, history=True))


def test_update_baseline_adds_new_findings_unreviewed(
    vulnerable_tree: Path, reports: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_tool("detect-secrets")
    baseline = vulnerable_tree / ".secrets.baseline"
    empty = json.loads(secrets.BASELINE.read_text()) | {"results": {}}
    baseline.write_text(json.dumps(empty))
    monkeypatch.setattr(secrets, "BASELINE", baseline)
    result = secrets.scan(options(root=vulnerable_tree, reports=reports, update_baseline=True))
    assert any("unreviewed baseline entry" in f.message for f in result.findings)
    recorded = json.loads(baseline.read_text())["results"]
    assert "config/cloud.env" in recorded


HANGING_ONCE = """#!/bin/sh
# detect-secrets as it was seen to hang once: the first run never returns
if [ ! -e "{marker}" ]; then touch "{marker}"; exec sleep 60; fi
echo '{{"version": "1.5.0", "results": {{}}}}'
"""
HANGING = """#!/bin/sh
exec sleep 60
"""


def _stand_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str) -> None:
    """The gate's ``detect-secrets`` is one running ``script``; runs time out after 1 s."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    program = bin_dir / secrets.TOOL
    program.write_text(script.format(marker=tmp_path / "hung-once"))
    program.chmod(0o755)
    monkeypatch.setattr(secrets, "find_executable", lambda *_args, **_options: str(program))
    monkeypatch.setattr(secrets, "SCAN_TIMEOUT", 1.0)
    monkeypatch.setattr(secrets, "SCAN_SECONDS_PER_FILE", 0.0)


def test_a_scan_that_hangs_is_run_once_more(
    vulnerable_tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_gate: RunGate
) -> None:
    _stand_in(tmp_path, monkeypatch, HANGING_ONCE)
    ran = run_gate(secrets.main, "--root", str(vulnerable_tree))
    assert ran.code == DONE, ran.err
    assert "did not finish within 1s; running it once more" in ran.err


def test_a_scan_that_hangs_twice_cannot_run(
    vulnerable_tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_gate: RunGate
) -> None:
    _stand_in(tmp_path, monkeypatch, HANGING)
    ran = run_gate(secrets.main, "--root", str(vulnerable_tree))
    assert ran.code == CANNOT_RUN, ran.out + ran.err
    assert ran.err.count("did not finish within 1s") == 2, ran.err


def test_the_scan_never_asks_the_issuers(tmp_path: Path) -> None:
    argv = secrets.command("detect-secrets", ["a.env"], tmp_path / "baseline")
    assert "--no-verify" in argv, "findings must not be sent to AWS, Slack, ... to verify"
