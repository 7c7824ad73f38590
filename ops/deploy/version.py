"""The version being deployed: the git commit, marked when the tree has changes."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from ops.project import ROOT

VERSION_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class VersionError(Exception):
    """No usable version; the message is one line."""


def _git(*args: str, cwd: Path) -> str:
    result = subprocess.run(  # noqa: S603 - fixed git arguments
        ["git", *args],  # noqa: S607 - git from PATH, as every developer runs it
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise VersionError(f"git {' '.join(args)} failed: {result.stderr.strip() or 'no output'}")
    return result.stdout.strip()


def resolve_version(explicit: str | None = None, source: Path = ROOT) -> str:
    """``explicit`` if given (validated), else the short commit SHA, with ``-dirty`` appended
    when tracked files differ from the commit."""
    if explicit is not None:
        if not VERSION_PATTERN.match(explicit):
            raise VersionError(
                f"version {explicit!r} is invalid: use letters, digits, '.', '_' or '-' (max 64)"
            )
        return explicit
    sha = _git("rev-parse", "--short=12", "HEAD", cwd=source)
    dirty = _git("status", "--porcelain", "--untracked-files=no", cwd=source)
    return f"{sha}-dirty" if dirty else sha
