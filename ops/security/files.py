"""Which files the gates scan: what a commit could contain, minus the excluded paths.

In a git checkout that is every tracked file plus every untracked file git does
not ignore (so a file planted but not yet added is scanned); elsewhere a walk
that skips environments, caches and reports.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from ops.core import git

FIXTURES = "tests/ops/security/fixtures/"
"""Deliberately vulnerable inputs of the gates' own tests: never part of a real scan."""
CODE_EXCLUDES = ("tests/",)
"""Not scanned by the code analysers (bandit, semgrep): tests hold fake credentials,
asserts and the fixtures above. The secret and config scanners do read tests/."""
SKIP_DIRS = frozenset(
    {
        ".git", ".venv", ".nox", ".tools", ".mypy_cache", ".ruff_cache", ".pytest_cache",
        ".hypothesis", ".schemathesis", ".trivycache", "__pycache__", "node_modules",
        "reports", "var", "dist", "build",
    }
)  # fmt: skip


def project_files(root: Path) -> list[str]:
    """Repository-relative POSIX paths of the files under ``root`` a commit could include."""
    if not git.is_checkout(root):
        return _walk(root)
    names = git.files(root, "--cached", "--others", "--exclude-standard")
    return [name for name in names if (root / name).is_file() and not _skipped(name)]


def ignored_paths(root: Path) -> tuple[list[str], list[str]]:
    """(directories, files) git ignores under ``root``, for scanners that walk the tree."""
    if not git.is_checkout(root):
        return [], []
    names = git.files(root, "--others", "--ignored", "--exclude-standard", "--directory")
    directories = sorted(name.rstrip("/") for name in names if name.endswith("/"))
    return directories, sorted(name for name in names if not name.endswith("/"))


def _walk(root: Path) -> list[str]:
    found = []
    for directory, subdirectories, names in os.walk(root):
        subdirectories[:] = sorted(d for d in subdirectories if d not in SKIP_DIRS)
        base = Path(directory).relative_to(root)
        found += [(base / name).as_posix() for name in names]
    return sorted(found)


def _skipped(name: str) -> bool:
    return any(part in SKIP_DIRS for part in Path(name).parts[:-1])


def under(path: str, prefixes: Iterable[str]) -> bool:
    """True when ``path`` lies under one of the directory ``prefixes`` (``"tests/"``...)."""
    return any(path.startswith(prefix) for prefix in prefixes)


def scan_set(root: Path, *, suffixes: tuple[str, ...] = (), code: bool = False) -> list[str]:
    """The files a gate scans: never the fixtures; not tests/ for code analysers."""
    excluded = (FIXTURES, *CODE_EXCLUDES) if code else (FIXTURES,)
    return [
        name
        for name in project_files(root)
        if not under(name, excluded) and (not suffixes or name.endswith(suffixes))
    ]
