"""The version being deployed: the git commit, marked when the tree has changes."""

from __future__ import annotations

import re
from pathlib import Path

from ops.core.commands import CommandError
from ops.core.exits import CannotRun
from ops.core.git import has_changes, head_commit
from ops.project import ROOT

VERSION_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
SHA_DIGITS = 12


class VersionError(CannotRun):
    """No usable version (a refusal before anything changes); the message is one line."""


def checked_version(version: str) -> str:
    """``version`` when it is a valid label (it names directories, images and tags)."""
    if not VERSION_PATTERN.match(version):
        raise VersionError(
            f"version {version!r} is invalid: use letters, digits, '.', '_' or '-' (max 64)"
        )
    return version


def resolve_version(explicit: str | None = None, source: Path = ROOT) -> str:
    """``explicit`` if given (validated), else the short commit SHA, with ``-dirty`` appended
    when tracked files differ from the commit."""
    if explicit is not None:
        return checked_version(explicit)
    try:
        sha = head_commit(source, short=SHA_DIGITS)
        dirty = has_changes(source)
    except CommandError as error:
        raise VersionError(f"no version for {source}: {error}") from None
    return f"{sha}-dirty" if dirty else sha
