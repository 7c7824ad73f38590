"""Immutable releases for the local platform: the app's code and its own environment.

A release directory holds a copy of ``app/`` with ``pyproject.toml``, ``uv.lock``
and ``alembic.ini``, and a virtualenv installed from the lock with the runtime
dependencies only. ``release.json`` is written last: a directory without it is
an interrupted build and is rebuilt. A release is never modified once complete.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ops.core.commands import CommandError
from ops.core.uv import find_uv, sync_runtime
from ops.deploy.platforms.base import PlatformError

RELEASE_FILES = ("pyproject.toml", "uv.lock", "alembic.ini")
RELEASE_TREES = ("app",)
MARKER = "release.json"
VENV = ".venv"


@dataclass(frozen=True, slots=True)
class Release:
    """One built release."""

    version: str
    path: Path

    @property
    def python(self) -> Path:
        """The release's own interpreter."""
        return self.path / VENV / "bin" / "python"

    @property
    def complete(self) -> bool:
        """True once the build finished."""
        return (self.path / MARKER).is_file()

    def built_at(self) -> str:
        """When the build finished (ISO 8601)."""
        return str(json.loads((self.path / MARKER).read_text()).get("built_at", ""))


class ReleaseStore:
    """The releases of one environment under ``<state_dir>/releases``; ``env`` holds the
    variables uv runs with."""

    def __init__(self, root: Path, env: Mapping[str, str]) -> None:
        self.root = root
        self.env = dict(env)

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
        except (OSError, CommandError, PlatformError) as error:
            shutil.rmtree(release.path, ignore_errors=True)
            raise PlatformError(f"building release {version} failed: {error}") from None
        built_at = datetime.now(UTC).isoformat()
        marker = {"version": version, "built_at": built_at, "source": str(source)}
        (release.path / MARKER).write_text(json.dumps(marker))
        return release

    def _copy_sources(self, source: Path, target: Path) -> None:
        target.mkdir(parents=True)
        for name in RELEASE_FILES:
            if not (source / name).is_file():
                raise PlatformError(f"{source / name} is missing")
            shutil.copy2(source / name, target / name)
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        for tree in RELEASE_TREES:
            shutil.copytree(source / tree, target / tree, ignore=ignore)

    def _install(self, release: Release) -> None:
        """The release's own virtualenv: exactly the locked runtime dependencies."""
        uv = find_uv(self.env)
        venv = release.path / VENV
        sync_runtime(uv, project=release.path, venv=venv, python=sys.executable, env=self.env)

    def prune(self, keep: int, protect: set[str]) -> list[str]:
        """Remove the oldest releases beyond ``keep``, never one in ``protect``."""
        releases = self.all()
        oldest = releases[: max(0, len(releases) - keep)]
        removable = [release for release in oldest if release.version not in protect]
        for release in removable:
            shutil.rmtree(release.path, ignore_errors=True)
        return [r.version for r in removable]
