"""What the pipelines ask of git and uv, against a real repository and the real uv."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from ops.core import git, uv
from ops.core.commands import CommandFailed, ToolNotFound


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    os.environ.setdefault("GIT_CONFIG_NOSYSTEM", "1")
    git.git("init", "-q", "-b", "main", cwd=tmp_path)
    git.git("config", "user.email", "ops@example.com", cwd=tmp_path)
    git.git("config", "user.name", "Ops", cwd=tmp_path)
    (tmp_path / "a.txt").write_text("one\n")
    git.git("add", "a.txt", cwd=tmp_path)
    git.git("commit", "-q", "-m", "first", cwd=tmp_path)
    return tmp_path


def test_commit_changes_files_and_tags(repo: Path) -> None:
    full = git.head_commit(repo)
    assert len(full) == 40
    assert git.head_commit(repo, short=12) == full[:12]
    assert not git.has_changes(repo)
    (repo / "a.txt").write_text("two\n")
    (repo / "untracked.txt").write_text("x\n")
    assert git.has_changes(repo), "a changed tracked file counts, an untracked one does not"
    assert git.files(repo) == ["a.txt"]
    assert git.files(repo, "--others", "--exclude-standard") == ["untracked.txt"]
    assert git.annotated_tag("deploy/x/1", "why", repo, ("ana", "a@invalid")) == "deploy/x/1"
    assert git.git("tag", "--list", cwd=repo).stdout.split() == ["deploy/x/1"]
    assert git.is_checkout(repo)


def test_outside_a_checkout_git_says_why(tmp_path: Path) -> None:
    assert not git.is_checkout(tmp_path)
    with pytest.raises(CommandFailed, match=r"^git rev-parse --verify failed \(exit 128\): "):
        git.head_commit(tmp_path)


def test_sync_arguments_install_exactly_the_lock() -> None:
    assert uv.sync_arguments(["test", "ops"], python="/v") == [
        "sync", "--locked", "--no-default-groups", "--python=/v", "--group=test", "--group=ops"
    ]  # fmt: skip
    assert uv.sync_arguments(["lint"], only_groups=True, python="/v")[-1] == "--only-group=lint"


def test_uv_is_found_by_variable_or_refused(tmp_path: Path) -> None:
    assert uv.find_uv({"UV": sys.executable}) == sys.executable
    with pytest.raises(ToolNotFound, match=r"\$UV names"):
        uv.find_uv({"UV": str(tmp_path / "nope")})


def test_a_failed_sync_is_one_line(tmp_path: Path) -> None:
    found = uv.find_uv(os.environ)
    with pytest.raises(CommandFailed, match=r"^uv sync --locked failed \(exit 2\): "):
        uv.sync_runtime(found, project=tmp_path, venv=tmp_path / "v", python=sys.executable,
                        env=os.environ)  # fmt: skip
