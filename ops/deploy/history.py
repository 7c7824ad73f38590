"""The deploy history of an environment: one record per deploy or rollback, never rewritten.

Every run -- succeeded, failed, refused or rolled back -- is appended to
``<state>/history.jsonl`` (an :class:`ops.core.journal.Journal`); ``invoke
releases`` shows it and ``invoke rollback`` finds the last good release in it.

For a remote platform the state directory is a throwaway runner's, so the history is
also kept in durable storage -- the environment's backup storage, one object per run
(``deploy-history/<env>/<id>.json``: append-only by construction, ids sort by time) --
and read back from there.
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ops.core.console import to_json
from ops.core.journal import Journal
from ops.core.steps import Step
from ops.storage.base import Storage, join_key

FILE_NAME = "history.jsonl"
DURABLE_PREFIX = "deploy-history"
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
    """The history file of one environment's state directory, and its durable copy
    (``durable``: the backup storage, for remote platforms)."""

    def __init__(
        self, state_dir: Path, durable: Storage | None = None, environment: str = ""
    ) -> None:
        self.path = state_dir / FILE_NAME
        earlier = state_dir / EARLIER_FILE_NAME
        if earlier.is_file() and not self.path.exists():
            earlier.rename(self.path)
        self.journal = Journal(self.path)
        self.durable, self.prefix = durable, join_key(DURABLE_PREFIX, environment or "default")

    def append(self, record: DeployRecord) -> None:
        """Add one run: a line here, and an object in the durable storage."""
        self.journal.append(record.to_dict())
        if self.durable is not None:
            key = join_key(self.prefix, f"{record.id}.json")
            self.durable.put_bytes(key, (to_json(record.to_dict()) + "\n").encode())

    def records(self) -> list[dict[str, Any]]:
        """Every run, oldest first: from the durable storage when there is one (a torn
        last line of the file is skipped)."""
        if self.durable is None:
            return self.journal.records()
        keys = sorted(info.key for info in self.durable.list(self.prefix + "/"))
        found = []
        for key in keys:
            try:
                found.append(json.loads(self.durable.get_bytes(key)))
            except ValueError:
                continue  # not a record: never written by this module
        return found

    def last_good(self, exclude: str | None = None) -> str | None:
        """The newest version that deployed successfully, other than ``exclude``."""
        for record in reversed(self.records()):
            if record.get("result") == "succeeded" and record.get("version") != exclude:
                version = record.get("version")
                return str(version) if version else None
        return None
