"""The append-only audit log of an environment's deploys and rollbacks (JSON lines)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class StepRecord:
    """One step of a deploy: name, outcome, duration, and what happened."""

    name: str
    ok: bool
    seconds: float
    detail: str = ""


@dataclass
class DeployRecord:
    """One deploy or rollback, as written to the audit log."""

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
    steps: list[StepRecord] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


class AuditLog:
    """Appends records with O_APPEND (never rewrites) and reads them back."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, record: DeployRecord) -> None:
        """Add one record as one line."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = (json.dumps(record.to_dict(), sort_keys=True) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def records(self) -> list[dict[str, Any]]:
        """Every record, oldest first (a torn last line is skipped)."""
        if not self.path.exists():
            return []
        records = []
        for line in self.path.read_text().splitlines():
            try:
                records.append(json.loads(line))
            except ValueError:
                continue
        return records

    def last_good(self, exclude: str | None = None) -> str | None:
        """The newest version that deployed successfully, other than ``exclude``."""
        for record in reversed(self.records()):
            if record.get("result") == "succeeded" and record.get("version") != exclude:
                version = record.get("version")
                return str(version) if version else None
        return None
