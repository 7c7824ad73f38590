"""Drill reports: the JSON document, its Markdown rendering, the append-only history."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class StepOutcome(BaseModel):
    """One drill step: passed or not, how long, what it found."""

    model_config = ConfigDict(extra="forbid")

    name: str
    ok: bool
    seconds: float
    detail: str = ""


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
    steps: list[StepOutcome] = Field(default_factory=list)
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
    """Write ``<drill-id>.json`` and ``.md`` and append one line to ``history.jsonl``."""
    directory.mkdir(parents=True, exist_ok=True)
    json_path = directory / f"{report.drill_id}.json"
    md_path = directory / f"{report.drill_id}.md"
    json_path.write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
    md_path.write_text(markdown(report), encoding="utf-8")
    append_history(report, directory / "history.jsonl")
    return json_path, md_path


def append_history(report: DrillReport, path: Path) -> None:
    """Append one JSON line (O_APPEND: concurrent drills never interleave a line)."""
    line = json.dumps(json.loads(report.model_dump_json()), separators=(",", ":")) + "\n"
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(descriptor, line.encode())
    finally:
        os.close(descriptor)


def history(path: Path) -> list[DrillReport]:
    """Every drill recorded in a history file, oldest first."""
    if not path.is_file():
        return []
    return [
        DrillReport.model_validate_json(line)
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
