"""What every gate reports: findings with one severity scale shared by all tools."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    """The shared scale; each tool's own levels are mapped onto it."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def blocking(self) -> bool:
        """True for the severities that fail a gate unless suppressed."""
        return self in (Severity.CRITICAL, Severity.HIGH)

    @property
    def rank(self) -> int:
        """Higher is worse (for sorting)."""
        return len(SEVERITIES) - SEVERITIES.index(self)


SEVERITIES = tuple(Severity)

_ALIASES = {
    "critical": Severity.CRITICAL,
    "high": Severity.HIGH,
    "error": Severity.HIGH,
    "medium": Severity.MEDIUM,
    "moderate": Severity.MEDIUM,
    "warning": Severity.MEDIUM,
    "low": Severity.LOW,
    "note": Severity.LOW,
    "info": Severity.INFO,
    "informational": Severity.INFO,
    "none": Severity.INFO,
}


def severity_of(label: str, default: Severity = Severity.MEDIUM) -> Severity:
    """Map a tool's severity label (``HIGH``, ``ERROR``, ``warning``...) onto the scale.

    An unknown label maps to ``default``: a finding of unknown weight is never dropped.
    """
    return _ALIASES.get(label.strip().lower(), default)


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem one tool found, located in the repository where possible."""

    gate: str
    rule_id: str
    severity: Severity
    message: str
    path: str = ""
    line: int | None = None

    @property
    def location(self) -> str:
        """``path:line`` (or just the path, or ``-``), for tables and messages."""
        if not self.path:
            return "-"
        return f"{self.path}:{self.line}" if self.line else self.path

    def describe(self) -> str:
        """One line naming the rule, the place and the problem."""
        return f"{self.severity.value} {self.rule_id} at {self.location}: {self.message}"


def sort_key(finding: Finding) -> tuple[int, str, int, str]:
    """Worst first, then by place."""
    return (-finding.severity.rank, finding.path, finding.line or 0, finding.rule_id)
