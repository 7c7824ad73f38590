"""Drill reports: the JSON document, its Markdown rendering, the append-only history
(an :class:`~ops.core.journal.Journal` of reports)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from ops.core.console import write_atomically
from ops.core.journal import Journal
from ops.core.steps import Step

HISTORY = "history.jsonl"


class DrillReport(BaseModel):
    """Everything a drill measured and decided."""

    model_config = ConfigDict(extra="forbid")

    drill_id: str
    environment: str
    ok: bool = False
    started_at: datetime
    finished_at: datetime | None = None
    backup_id: str | None = None
    backend: str | None = None
    backup_finished_at: datetime | None = None
    consistent_at: datetime | None = None
    newest_data_at: datetime | None = None
    rto_seconds: float | None = None
    rto_target_seconds: float
    rpo_seconds: float | None = None
    rpo_target_seconds: float
    rpo_basis: str = "drill start minus the backup's consistency point (snapshot time)"
    data_age_seconds: float | None = None
    scratch_database: str | None = None
    steps: list[Step] = Field(default_factory=list)
    failures: list[str] = Field(default_factory=list)
    alert: str | None = None
    host: str = ""


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f} s"


def markdown(report: DrillReport) -> str:
    """A human summary: verdict, RTO/RPO against targets, every step."""
    verdict = "PASSED" if report.ok else "FAILED"
    lines = [
        f"# DR drill {report.drill_id} ({report.environment}): {verdict}",
        "",
        f"- backup: `{report.backup_id or '—'}` ({report.backend or '—'}), "
        f"consistent at {report.consistent_at or '—'}",
        f"- RTO: {_seconds(report.rto_seconds)} (target {_seconds(report.rto_target_seconds)}) "
        "— drill start to the app answering /ready on the restored data",
        f"- RPO: {_seconds(report.rpo_seconds)} (target {_seconds(report.rpo_target_seconds)}) "
        f"— {report.rpo_basis}",
        f"- newest data in the backup: {report.newest_data_at or '—'}",
        f"- scratch database: {report.scratch_database or '—'}",
        "",
        "| step | result | seconds | detail |",
        "|---|---|---:|---|",
    ]
    for step in report.steps:
        detail = step.detail.replace("|", "\\|")
        lines.append(
            f"| {step.name} | {'ok' if step.ok else 'FAILED'} | {step.seconds:.2f} | {detail} |"
        )
    if report.failures:
        lines += ["", "## Failures", "", *[f"- {failure}" for failure in report.failures]]
    return "\n".join(lines) + "\n"


def write(report: DrillReport, directory: Path) -> tuple[Path, Path]:
    """Write ``<drill-id>.json`` and ``.md`` and append the report to ``history.jsonl``."""
    json_path = directory / f"{report.drill_id}.json"
    md_path = directory / f"{report.drill_id}.md"
    write_atomically(json_path, report.model_dump_json(indent=2) + "\n")
    write_atomically(md_path, markdown(report))
    Journal(directory / HISTORY).append(report.model_dump(mode="json"))
    return json_path, md_path


def history(path: Path) -> list[DrillReport]:
    """Every drill recorded in a history file, oldest first."""
    return [DrillReport.model_validate(record) for record in Journal(path).records()]
