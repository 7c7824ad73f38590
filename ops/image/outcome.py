"""What one gate of ``image.check`` concludes: its findings, or the check it could not
make (named), and notes for the report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ops.security.findings import Finding, Severity

GATE = "image"
LOCATION = "deploy/Dockerfile"


@dataclass
class Outcome:
    """One gate's result."""

    name: str
    findings: list[Finding] = field(default_factory=list)
    skipped: str = ""
    error: str = ""
    notes: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        """``could not run``, ``failed`` (a blocking finding), ``skipped`` or ``passed``."""
        if self.error:
            return "could not run"
        if any(finding.severity.blocking for finding in self.findings):
            return "failed"
        return "skipped" if self.skipped else "passed"

    def fail(self, rule: str, message: str, severity: Severity = Severity.HIGH) -> None:
        """Record a problem of this gate, located at the Dockerfile."""
        self.findings.append(Finding(GATE, rule, severity, message, LOCATION, None))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for the report."""
        return {
            "gate": self.name,
            "status": self.status,
            "problems": [finding.describe() for finding in self.findings],
            "skipped": self.skipped,
            "error": self.error,
            "notes": self.notes,
            **self.figures,
        }
