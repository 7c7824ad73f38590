"""What the pipelines ask of git: the commit, whether the tree changed, files, tags."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ops.core.commands import CommandError, Completed, check, find_executable

HINT = "install git"


def git(
    *args: str,
    cwd: Path,
    stdin: str | bytes | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
) -> Completed:
    """Run ``git ARGS`` in ``cwd``; :class:`~ops.core.commands.CommandFailed` names the
    subcommand and git's own reason when it fails."""
    program = find_executable("git", hint=HINT)
    return check([program, *args], cwd=cwd, stdin=stdin, env=env, timeout=timeout)


def is_checkout(root: Path) -> bool:
    """True when ``root`` is the top of a git checkout and git is installed."""
    if not (root / ".git").exists():
        return False
    try:
        find_executable("git", hint=HINT)
    except CommandError:
        return False
    return True


def head_commit(cwd: Path, short: int | None = None) -> str:
    """The checked-out commit (its first ``short`` hex digits when given)."""
    args = ["rev-parse", f"--short={short}" if short else "--verify", "HEAD"]
    return git(*args, cwd=cwd).stdout.strip()


def has_changes(cwd: Path) -> bool:
    """True when tracked files differ from the commit (untracked files do not count)."""
    return bool(git("status", "--porcelain", "--untracked-files=no", cwd=cwd).stdout.strip())


def files(cwd: Path, *options: str) -> list[str]:
    """``git ls-files -z OPTIONS`` as a sorted list of paths."""
    listed = git("ls-files", "-z", *options, cwd=cwd).stdout
    return sorted({name for name in listed.split("\0") if name})


def annotated_tag(name: str, message: str, cwd: Path, tagger: tuple[str, str]) -> str:
    """Create the annotated tag ``name`` on HEAD as ``tagger`` (name, email) -- given
    explicitly: CI runners have no git identity of their own. Returns the name."""
    who, email = tagger
    git("-c", f"user.name={who}", "-c", f"user.email={email}",
        "tag", "-a", name, "-m", message, cwd=cwd)  # fmt: skip
    return name
