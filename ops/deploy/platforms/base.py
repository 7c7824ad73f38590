"""What the deploy pipeline needs from a platform.

The pipeline (plan, lock, approval, backup, gates, history, notification) is the
same everywhere; a platform only knows how to build, migrate, start a
candidate beside what serves, switch traffic to it, drain the previous one,
and throw a failed candidate away. A platform step that fails raises
:class:`PlatformError` (or :class:`~ops.core.commands.CommandFailed` naming the
command); a platform that cannot be used at all -- a tool missing, the cluster
unreachable, no token -- fails its :meth:`Platform.preflight` with
:class:`~ops.core.exits.CannotRun`, before anything changes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ops.core.commands import DEFAULT_TIMEOUT, CommandError, Completed, Runner, run
from ops.core.exits import CannotRun, CheckFailed, one_line
from ops.deploy.gates import Target
from ops.environments import EnvironmentDefinition


class PlatformError(CheckFailed):
    """A platform step failed; the message is one line."""


@dataclass
class Candidate:
    """A started release that has not taken traffic yet."""

    version: str
    target: Target
    slot: str = ""
    log_path: Path | None = None
    notes: list[str] = field(default_factory=list)


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


class CommandLinePlatform:
    """What the platforms driven by a command-line tool (kubectl, railway) share: the
    environment, its secrets, the task's variables, and the runner of their commands
    (:func:`ops.core.commands.run`; tests substitute a recorder)."""

    name = "command line"

    def __init__(
        self,
        environment: EnvironmentDefinition,
        secrets: Mapping[str, str],
        env: Mapping[str, str],
        runner: Runner = run,
    ) -> None:
        self.environment = environment
        self.secrets = dict(secrets)
        self.env = dict(env)
        self.runner = runner

    def command_timeout(self) -> float:
        """How long one command may take."""
        return DEFAULT_TIMEOUT

    def run(self, command: Sequence[str], stdin: str | None = None) -> Completed:
        """Run ``command`` with the task's variables; never raises for an exit status."""
        return self.runner(command, stdin=stdin, env=self.env, timeout=self.command_timeout())

    def check(self, command: Sequence[str], stdin: str | None = None) -> str:
        """Run ``command``; its output, or :class:`~ops.core.commands.CommandFailed`."""
        return self.run(command, stdin).checked().stdout

    def query(self, command: Sequence[str]) -> str | None:
        """The output of a read-only command; None when it fails or cannot run (what is
        deployed is then unknown, which ``status`` and a dry run show as nothing)."""
        try:
            done = self.run(command)
        except CommandError:
            return None
        return done.stdout if done.ok else None

    def output(self, command: Sequence[str]) -> str:
        """What a command printed (stdout, else stderr), or why it could not run; for logs
        and status, which never fail."""
        try:
            done = self.run(command)
        except CommandError as error:
            return one_line(error)
        return done.stdout or done.stderr

    def require(self, command: Sequence[str]) -> None:
        """A preflight check: ``command`` must succeed, else :class:`CannotRun`."""
        try:
            self.check(command)
        except CommandError as error:
            raise CannotRun(f"{self.name}: {one_line(error)}") from None
