"""Which files the gates read: what a commit could contain, without the fixtures."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from ops.security.files import FIXTURES, ignored_paths, project_files, scan_set


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def plant(root: Path) -> None:
    for name in ("app/main.py", "tests/test_x.py", f"{FIXTURES}bad.py", ".env", "var/db.py"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("x = 1\n")
    (root / ".gitignore").write_text(".env\nvar/\n")


def test_a_checkout_yields_tracked_and_untracked_files_but_not_ignored_ones(
    tmp_path: Path,
) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    git(tmp_path, "init", "-q")
    plant(tmp_path)
    git(tmp_path, "add", "app/main.py")
    assert project_files(tmp_path) == [
        ".gitignore", "app/main.py", f"{FIXTURES}bad.py", "tests/test_x.py",
    ]  # fmt: skip
    assert scan_set(tmp_path, code=True) == [".gitignore", "app/main.py"]
    assert scan_set(tmp_path, suffixes=(".py",)) == ["app/main.py", "tests/test_x.py"]
    assert ignored_paths(tmp_path) == (["var"], [".env"])


def test_a_plain_directory_is_walked_without_environments(tmp_path: Path) -> None:
    plant(tmp_path)
    (tmp_path / ".venv" / "lib").mkdir(parents=True)
    (tmp_path / ".venv" / "lib" / "site.py").write_text("")
    assert ".venv/lib/site.py" not in project_files(tmp_path)
    assert "var/db.py" not in project_files(tmp_path)
    assert ".env" in project_files(tmp_path)
    assert ignored_paths(tmp_path) == ([], [])
