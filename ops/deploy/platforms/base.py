"""What the deploy pipeline needs from a platform.

The pipeline (plan, lock, approval, backup, gates, audit, notification) is the
same everywhere; a platform only knows how to build, migrate, start a
candidate beside what serves, switch traffic to it, drain the previous one,
and throw a failed candidate away.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ops.deploy.gates import Target


class PlatformError(Exception):
    """A platform step failed; the message is one line."""


@dataclass
class Candidate:
    """A started release that has not taken traffic yet."""

    version: str
    target: Target
    slot: str = ""
    log_path: Path | None = None
    details: dict[str, Any] = field(default_factory=dict)


class Platform(Protocol):
    """One deployment platform."""

    name: str

    def preflight(self) -> None:
        """Check that the tools and credentials the platform needs are there."""

    def serving_version(self) -> str | None:
        """The version taking traffic now (None when nothing is deployed)."""

    def available_versions(self) -> list[str]:
        """Versions that can be started again (for rollback), oldest first."""

    def build(self, version: str, source: Path) -> str:
        """Make ``version`` startable; returns what was done."""

    def migrate(self, version: str) -> str:
        """Run the database migrations of ``version``; returns what was done."""

    def start(self, version: str) -> Candidate:
        """Start ``version`` beside what serves, without traffic."""

    def alive(self, candidate: Candidate) -> bool:
        """True while the candidate's process runs."""

    def logs(self, candidate: Candidate, lines: int = 20) -> str:
        """The candidate's last log lines."""

    def switch(self, candidate: Candidate) -> str:
        """Send traffic to the candidate."""

    def drain(self, candidate: Candidate) -> str:
        """Let the previous release finish its requests, then stop it."""

    def discard(self, candidate: Candidate) -> str:
        """Stop a candidate that failed its gates; what served keeps serving."""

    def status(self) -> dict[str, Any]:
        """What runs, for ``invoke status``."""

    def down(self) -> list[str]:
        """Stop everything the platform runs for this environment."""

    def prune(self, keep: int, protect: set[str]) -> list[str]:
        """Drop old releases beyond ``keep``."""


def command_text(command: Sequence[str]) -> str:
    """A command line for logs."""
    return " ".join(command)


@dataclass(frozen=True, slots=True)
class Completed:
    """The outcome of one external command."""

    code: int
    stdout: str = ""
    stderr: str = ""


class Runner(Protocol):
    """Runs external commands (kubectl, railway); tests substitute a recorder."""

    def __call__(self, command: Sequence[str], stdin: str | None = None) -> Completed:
        """Run ``command`` and return its outcome."""


def subprocess_runner(timeout: float = 900) -> Runner:
    """Run commands for real, capturing their output."""

    def run(command: Sequence[str], stdin: str | None = None) -> Completed:
        try:
            result = subprocess.run(  # noqa: S603 - platform CLIs with built arguments
                list(command), input=stdin, capture_output=True, text=True,
                timeout=timeout, check=False,
            )  # fmt: skip
        except FileNotFoundError:
            return Completed(127, "", f"{command[0]}: command not found")
        except subprocess.TimeoutExpired:
            return Completed(124, "", f"{command[0]} timed out after {timeout:g}s")
        return Completed(result.returncode, result.stdout, result.stderr)

    return run


def checked(runner: Runner, command: Sequence[str], stdin: str | None = None) -> str:
    """Run ``command``; raise :class:`PlatformError` naming it when it fails."""
    result = runner(command, stdin)
    if result.code != 0:
        lines = (result.stderr or result.stdout).strip().splitlines()
        reason = lines[-1] if lines else f"exit {result.code}"
        raise PlatformError(f"{command_text(command[:3])} failed: {reason}")
    return result.stdout
