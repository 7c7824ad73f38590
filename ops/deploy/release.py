"""Immutable releases for the local platform: the app's code and its own environment.

A release directory holds a copy of ``app/`` with ``pyproject.toml``, ``uv.lock``
and ``alembic.ini``, and a virtualenv installed from the lock with the runtime
dependencies only. ``release.json`` is written last: a directory without it is
an interrupted build and is rebuilt. A release is never modified once complete.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

RELEASE_FILES = ("pyproject.toml", "uv.lock", "alembic.ini")
RELEASE_TREES = ("app",)
MARKER = "release.json"


class ReleaseError(Exception):
    """A release could not be built; the message is one line."""


@dataclass(frozen=True, slots=True)
class Release:
    """One built release."""

    version: str
    path: Path

    @property
    def python(self) -> Path:
        """The release's own interpreter."""
        return self.path / ".venv" / "bin" / "python"

    @property
    def complete(self) -> bool:
        """True once the build finished."""
        return (self.path / MARKER).is_file()

    def built_at(self) -> str:
        """When the build finished (ISO 8601)."""
        return str(json.loads((self.path / MARKER).read_text()).get("built_at", ""))


def find_uv() -> str:
    """The uv executable (``$UV`` under ``uv run``, else PATH, else beside this Python)."""
    candidates = [os.environ.get("UV"), shutil.which("uv"), str(Path(sys.executable).parent / "uv")]
    for candidate in candidates:
        if candidate and Path(candidate).exists():
            return candidate
    raise ReleaseError("uv not found: install it (pip install uv) to build releases")


class ReleaseStore:
    """The releases of one environment under ``<state_dir>/releases``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def get(self, version: str) -> Release | None:
        """A complete release of ``version``, if kept."""
        release = Release(version, self.root / version)
        return release if release.complete else None

    def all(self) -> list[Release]:
        """Complete releases, oldest build first."""
        if not self.root.is_dir():
            return []
        releases = [Release(p.name, p) for p in self.root.iterdir() if p.is_dir()]
        return sorted((r for r in releases if r.complete), key=lambda r: r.built_at())

    def build(self, version: str, source: Path) -> Release:
        """Build ``version`` from ``source`` (reuse it if already complete)."""
        existing = self.get(version)
        if existing is not None:
            return existing
        release = Release(version, self.root / version)
        if release.path.exists():
            shutil.rmtree(release.path)  # an interrupted build
        try:
            self._copy_sources(source, release.path)
            self._install(release)
        except (OSError, ReleaseError) as error:
            shutil.rmtree(release.path, ignore_errors=True)
            raise ReleaseError(f"building release {version} failed: {error}") from None
        built_at = datetime.now(UTC).isoformat()
        marker = {"version": version, "built_at": built_at, "source": str(source)}
        (release.path / MARKER).write_text(json.dumps(marker))
        return release

    def _copy_sources(self, source: Path, target: Path) -> None:
        target.mkdir(parents=True)
        for name in RELEASE_FILES:
            if not (source / name).is_file():
                raise ReleaseError(f"{source / name} is missing")
            shutil.copy2(source / name, target / name)
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        for tree in RELEASE_TREES:
            shutil.copytree(source / tree, target / tree, ignore=ignore)

    def _install(self, release: Release) -> None:
        env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(release.path / ".venv")}
        env.pop("VIRTUAL_ENV", None)
        command = [
            find_uv(), "sync", "--locked", "--no-default-groups", "--no-install-project",
            "--python", sys.executable, "--quiet",
        ]  # fmt: skip
        result = subprocess.run(  # noqa: S603 - fixed command
            command, cwd=release.path, env=env, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            lines = (result.stderr or result.stdout).strip().splitlines()
            raise ReleaseError(f"uv sync failed: {lines[-1] if lines else result.returncode}")

    def prune(self, keep: int, protect: set[str]) -> list[str]:
        """Remove the oldest releases beyond ``keep``, never one in ``protect``."""
        releases = self.all()
        oldest = releases[: max(0, len(releases) - keep)]
        removable = [release for release in oldest if release.version not in protect]
        for release in removable:
            shutil.rmtree(release.path, ignore_errors=True)
        return [r.version for r in removable]
