"""Applying the retention policy to storage: a plan (dry run) and its application."""

from __future__ import annotations

from dataclasses import dataclass

from ops.backup import retention
from ops.backup.catalog import BackupEntry, scan
from ops.backup.context import BackupContext
from ops.backup.errors import BackupCannotRun
from ops.backup.layout import Kind


@dataclass(frozen=True, slots=True)
class PruneDecision:
    """One backup and what the retention policy decided for it."""

    entry: BackupEntry
    decision: retention.Decision

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {
            "kind": self.entry.kind,
            "id": self.entry.id,
            "complete": self.entry.complete,
            "verified": self.entry.verified_ok,
            "time": self.entry.time.isoformat(),
            "action": "keep" if self.decision.keep else "delete",
            "reasons": list(self.decision.reasons),
            "bytes": self.entry.stored_bytes,
        }


def plan(context: BackupContext, kind: Kind) -> list[PruneDecision]:
    """The decision for every backup of ``kind``, newest first."""
    entries = {entry.id: entry for entry in scan(context.storage, context.name, kind)}
    candidates = [
        retention.Candidate(e.id, e.time, complete=e.complete, verified=e.verified_ok)
        for e in entries.values()
    ]
    decisions = retention.decide(candidates, context.environment.backup.retention, context.clock())
    return [PruneDecision(entries[d.id], d) for d in decisions]


def check_safe(decisions: list[PruneDecision]) -> None:
    """Refuse a plan that would delete the newest complete or newest verified backup."""
    complete = [d for d in decisions if d.entry.complete]
    verified = [d for d in complete if d.entry.verified_ok]
    for label, group in (("complete", complete), ("verified", verified)):
        newest = max(group, key=lambda d: (d.entry.time, d.entry.id), default=None)
        if newest is not None and not newest.decision.keep:
            raise BackupCannotRun(f"refusing to prune: it would delete the newest {label} backup")


def apply(context: BackupContext, decisions: list[PruneDecision]) -> list[str]:
    """Delete every backup the plan deletes (manifest first, so none is left looking
    complete with objects missing); return their ids."""
    check_safe(decisions)
    deleted = []
    for item in decisions:
        if item.decision.keep:
            continue
        objects = sorted(item.entry.objects, key=lambda o: not o.key.endswith("/manifest.json"))
        for info in objects:
            context.storage.delete(info.key)
        deleted.append(item.entry.id)
    return deleted
