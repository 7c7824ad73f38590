"""The deploy history of an environment: one record per deploy or rollback, never rewritten.

Every run -- succeeded, failed, refused or rolled back -- is appended to
``<state>/history.jsonl`` (an :class:`ops.core.journal.Journal`); ``invoke
releases`` shows it and ``invoke rollback`` finds the last good release in it.
"""

from __future__ import annotations

import getpass
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ops.core.journal import Journal
from ops.core.steps import Step

FILE_NAME = "history.jsonl"
# The name this log had before it was called the history; adopted on first use.
EARLIER_FILE_NAME = "audit.jsonl"


def who(env: Mapping[str, str]) -> str:
    """The person (or CI actor) deploying."""
    actor = env.get("GITHUB_ACTOR")
    user = getpass.getuser()
    return f"{actor} (via {user})" if actor else user


@dataclass
class DeployRecord:
    """One deploy or rollback: what, where, by whom, how it ended, and every step."""

    id: str
    action: str
    environment: str
    version: str
    previous: str | None
    who: str
    started_at: str
    result: str = "running"
    reason: str = ""
    duration_seconds: float = 0.0
    plan: list[str] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        """True when the run did everything it planned."""
        return self.result == "succeeded"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the history line, the report, ``--json``)."""
        return asdict(self)


class DeployHistory:
    """The history file of one environment's state directory."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / FILE_NAME
        earlier = state_dir / EARLIER_FILE_NAME
        if earlier.is_file() and not self.path.exists():
            earlier.rename(self.path)
        self.journal = Journal(self.path)

    def append(self, record: DeployRecord) -> None:
        """Add one run as one line."""
        self.journal.append(record.to_dict())

    def records(self) -> list[dict[str, Any]]:
        """Every run, oldest first (a torn last line is skipped)."""
        return self.journal.records()

    def last_good(self, exclude: str | None = None) -> str | None:
        """The newest version that deployed successfully, other than ``exclude``."""
        for record in reversed(self.records()):
            if record.get("result") == "succeeded" and record.get("version") != exclude:
                version = record.get("version")
                return str(version) if version else None
        return None
