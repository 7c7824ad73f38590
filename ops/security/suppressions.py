"""The reviewed suppression list: security/suppressions.toml.

Each ``[[suppression]]`` names the gate (``tool``), the rule id and a path glob
it applies to, why the finding is accepted (``reason``), who reviewed it
(``reviewed_by``) and when the acceptance ends (``expires``, a TOML date at most
366 days ahead). An expired entry suppresses nothing and fails the gate that
owns it, so every acceptance is looked at again at least once a year.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from ops.core.exits import CannotRun
from ops.security import GATES
from ops.security.findings import Finding

MAX_HORIZON = timedelta(days=366)
REQUIRED = ("tool", "rule", "path", "reason", "expires", "reviewed_by")
MIN_REASON = 15


class SuppressionError(CannotRun):
    """The suppression list is unreadable or an entry is incomplete (one line)."""


@dataclass(frozen=True, slots=True)
class Suppression:
    """One reviewed acceptance of findings of one rule in some files."""

    tool: str
    rule: str
    path: str
    reason: str
    expires: date
    reviewed_by: str

    def matches(self, finding: Finding) -> bool:
        """True when this entry covers ``finding`` (rule and path are globs)."""
        return (
            self.tool == finding.gate
            and fnmatchcase(finding.rule_id, self.rule)
            and fnmatchcase(finding.path, self.path)
        )

    def expired(self, today: date) -> bool:
        """True once the expiry date has passed."""
        return self.expires < today

    def describe(self) -> str:
        """``tool rule path`` for messages."""
        return f"{self.tool} {self.rule} {self.path}"


@dataclass(frozen=True, slots=True)
class Assessment:
    """A finding and the active suppression covering it, if any."""

    finding: Finding
    suppression: Suppression | None = None

    @property
    def blocking(self) -> bool:
        """True for an unsuppressed high or critical finding."""
        return self.suppression is None and self.finding.severity.blocking


def load(path: Path, today: date) -> list[Suppression]:
    """Every entry of the list at ``path`` (none when the file does not exist)."""
    if not path.exists():
        return []
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise SuppressionError(f"{path.name}: not valid TOML: {error}") from None
    entries = data.get("suppression", [])
    if not isinstance(entries, list):
        raise SuppressionError(f"{path.name}: `suppression` must be an array of tables")
    return [_entry(path.name, number, entry, today) for number, entry in enumerate(entries, 1)]


def _entry(source: str, number: int, entry: Any, today: date) -> Suppression:
    where = f"{source}: suppression #{number}"
    if not isinstance(entry, dict):
        raise SuppressionError(f"{where}: not a table")
    missing = [key for key in REQUIRED if not entry.get(key)]
    if missing:
        raise SuppressionError(f"{where}: missing {', '.join(missing)}")
    unknown = sorted(set(entry) - set(REQUIRED))
    if unknown:
        raise SuppressionError(f"{where}: unknown key(s) {', '.join(unknown)}")
    if entry["tool"] not in GATES:
        raise SuppressionError(f"{where}: tool {entry['tool']!r} is not one of {', '.join(GATES)}")
    expires = entry["expires"]
    if not isinstance(expires, date):
        raise SuppressionError(f"{where}: expires must be a TOML date (YYYY-MM-DD)")
    if expires - today > MAX_HORIZON:
        raise SuppressionError(f"{where}: expires {expires} is more than 366 days ahead")
    if len(str(entry["reason"]).strip()) < MIN_REASON:
        raise SuppressionError(f"{where}: the reason must say why the finding is acceptable")
    strings = {key: str(entry[key]) for key in REQUIRED if key != "expires"}
    return Suppression(expires=expires, **strings)


def assess(
    findings: Iterable[Finding], suppressions: Sequence[Suppression], today: date
) -> list[Assessment]:
    """Pair each finding with the first active (unexpired) suppression that covers it."""
    active = [entry for entry in suppressions if not entry.expired(today)]
    return [
        Assessment(finding, next((entry for entry in active if entry.matches(finding)), None))
        for finding in findings
    ]


def expired(suppressions: Iterable[Suppression], today: date, gate: str | None = None) -> list[str]:
    """One line per expired entry (of ``gate`` only, if given)."""
    return [
        f"suppression expired on {entry.expires}: {entry.describe()} ({entry.reason})"
        for entry in suppressions
        if entry.expired(today) and (gate is None or entry.tool == gate)
    ]
