"""A pyproject change without a re-lock stops the nox sessions with the fix named."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from ops.project import ROOT
from ops.sessions.install import STALE_LOCK
from tests.support.invoke import run_nox


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    for name in ("pyproject.toml", "uv.lock", "noxfile.py"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "ops", tmp_path / "ops", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def _nox(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_nox(repo / "noxfile.py", *args)


def test_current_lock_passes(repo_copy: Path) -> None:
    result = _nox(repo_copy, "-s", "lock")
    assert result.returncode == 0, result.stderr


def test_changed_pin_without_relock_fails_with_the_fix(repo_copy: Path) -> None:
    pyproject = repo_copy / "pyproject.toml"
    text = pyproject.read_text()
    assert '"fastapi>=0.115",' in text
    pyproject.write_text(text.replace('"fastapi>=0.115",', '"fastapi>=0.115,<0.116",'))
    result = _nox(repo_copy, "-s", "lock")
    assert result.returncode != 0
    assert STALE_LOCK in result.stderr + result.stdout
    assert "nox -s lock -- --update" in STALE_LOCK


def test_lock_rejects_unknown_options(repo_copy: Path) -> None:
    result = _nox(repo_copy, "-s", "lock", "--", "--frobnicate")
    assert result.returncode != 0
    assert "unknown option(s) --frobnicate" in result.stderr + result.stdout


def test_sessions_refuse_to_install_from_a_stale_lock(repo_copy: Path) -> None:
    pyproject = repo_copy / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"ruff>=0.8",', '"ruff>=0.8,<0.9",'))
    result = _nox(repo_copy, "-s", "lint")
    assert result.returncode != 0
    assert STALE_LOCK in result.stderr + result.stdout
    assert "ruff check" not in result.stderr, "nothing ran after the stale lock was found"
