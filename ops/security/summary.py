"""The ``security`` summary: every gate's findings in one SARIF file, one table, one score.

Reads ``<gate>.status.json`` and ``<gate>.sarif`` of every gate (a gate that wrote
nothing is skipped with the reason "not run"), applies the suppression list again
(an entry that expired since a gate ran counts now), and writes to the reports
directory ``security.sarif`` (SARIF 2.1.0, one run per gate), ``summary.json`` and
``summary.md`` (appended to ``$GITHUB_STEP_SUMMARY`` in GitHub Actions).

It fails on a failed gate, on any unsuppressed high or critical finding, and on
an expired suppression, naming each. The score (0-100) is described in
:mod:`ops.security.score`.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from ops.security import GATES, gate, sarif, score
from ops.security.findings import SEVERITIES
from ops.security.suppressions import Assessment, Suppression, assess, expired, load

MERGED = "security.sarif"
NOT_RUN = "not run"
_LABELS = tuple(severity.value for severity in SEVERITIES)


@dataclass(slots=True)
class GateSummary:
    """One gate's line in the table."""

    gate: str
    status: str
    reason: str = ""
    tool: str = ""
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_LABELS, 0))
    suppressed: int = 0
    skipped_checks: list[str] = field(default_factory=list)
    used: list[Suppression] = field(default_factory=list)
    run: sarif.Json | None = None

    @property
    def blocking(self) -> int:
        """Unsuppressed critical and high findings."""
        return self.counts["critical"] + self.counts["high"]


def gate_summary(
    reports: Path, name: str, entries: Sequence[Suppression], today: date
) -> GateSummary:
    """What one gate left in ``reports``, judged against the current suppression list."""
    status_file = gate.status_path(reports, name)
    if not status_file.exists():
        return GateSummary(name, "skipped", NOT_RUN)
    status = gate.load_json(status_file, f"{name} status")
    summary = GateSummary(name, str(status["status"]), str(status.get("reason", "")))
    summary.tool = str(status.get("tool", ""))
    summary.skipped_checks = list(status.get("skipped_checks", []))
    try:
        log = sarif.read(gate.sarif_path(reports, name))
    except ValueError as error:
        summary.status, summary.reason = "failed", str(error)
        return summary
    assessments = assess(sarif.findings(log), entries, today)
    _count(summary, assessments)
    properties = {"status": summary.status, "reason": summary.reason}
    driver = log["runs"][0]["tool"]["driver"] if log["runs"] else {"name": name}
    version = str(driver.get("version", ""))
    summary.run = sarif.build_run(name, str(driver["name"]), version, assessments, properties)
    return summary


def _count(summary: GateSummary, assessments: Sequence[Assessment]) -> None:
    for item in assessments:
        if item.suppression is None:
            summary.counts[item.finding.severity.value] += 1
        else:
            summary.suppressed += 1
            summary.used.append(item.suppression)
    if summary.blocking and summary.status != "failed":
        summary.status = "failed"
        summary.reason = f"{summary.blocking} unsuppressed high/critical finding(s)"


def unused(entries: Sequence[Suppression], gates: Sequence[GateSummary]) -> list[str]:
    """Suppressions of gates that ran which matched nothing: candidates for removal."""
    ran = {g.gate for g in gates if g.run is not None and (g.status == "passed" or g.suppressed)}
    used = {entry for g in gates for entry in g.used}
    return [entry.describe() for entry in entries if entry.tool in ran and entry not in used]


@dataclass(frozen=True, slots=True)
class Report:
    """Everything the summary prints and writes."""

    gates: list[GateSummary]
    expired: list[str]
    unused: list[str]
    score: int

    @property
    def failed(self) -> bool:
        """A gate failed, a finding blocks, or a suppression expired."""
        return bool(self.expired) or any(g.status == "failed" for g in self.gates)


def build(reports: Path, entries: Sequence[Suppression], today: date) -> Report:
    """Judge every gate's reports and compute the score."""
    gates = [gate_summary(reports, name, entries, today) for name in GATES]
    if all(g.reason == NOT_RUN for g in gates):
        raise gate.GateError(f"no gate has reported to {reports}: run `nox -t security` first")
    totals = {s: sum(g.counts[s.value] for g in gates) for s in SEVERITIES}
    nothing_checked = sum(
        g.status == "skipped"
        or (g.status == "failed" and not any(g.counts.values()) and not g.suppressed)
        for g in gates
    )
    partial = sum(len(g.skipped_checks) for g in gates if g.status != "skipped")
    return Report(
        gates,
        expired(entries, today),
        unused(entries, gates),
        score.score(totals, nothing_checked, partial),
    )


def table(report: Report) -> str:
    """The terminal table: findings by gate and severity, what was skipped, the score."""
    columns = f"{'gate':<13} {'tool':<15} {'status':<8} "
    header = columns + " ".join(f"{s:>8}" for s in _LABELS) + "  suppressed"
    lines = [header, "-" * len(header)]
    for g in report.gates:
        counts = " ".join(f"{g.counts[s]:>8}" for s in _LABELS)
        lines.append(f"{g.gate:<13} {g.tool or '-':<15} {g.status:<8} {counts}  {g.suppressed:>10}")
    lines += ["", *_notes(report)]
    verdict = "FAILED" if report.failed else "passed"
    lines.append(f"security: {verdict} - score {report.score}/100")
    return "\n".join(lines)


def _notes(report: Report) -> list[str]:
    lines = []
    for g in report.gates:
        if g.status in ("skipped", "failed") and g.reason:
            lines.append(f"{g.status}: {g.gate}: {g.reason}")
        lines += [f"skipped check: {g.gate}: {check}" for check in g.skipped_checks]
    lines += [f"expired: {line}" for line in report.expired]
    lines += [f"unused suppression (remove it?): {line}" for line in report.unused]
    lines.append(
        "score = 100 - (25 x critical + 10 x high + 3 x medium + min(10, low)"
        " + 10 x gate not checked + 5 x check skipped), at least 0"
    )
    return lines


def markdown(report: Report) -> str:
    """The same report as Markdown, for the job summary."""
    lines = [
        f"## Security gates: {'failed' if report.failed else 'passed'}, score {report.score}/100",
        "",
        "| gate | tool | status | " + " | ".join(_LABELS) + " | suppressed |",
        "|---|---|---|" + "---:|" * (len(_LABELS) + 1),
    ]
    for g in report.gates:
        counts = " | ".join(str(g.counts[s]) for s in _LABELS)
        lines.append(f"| {g.gate} | {g.tool or '-'} | {g.status} | {counts} | {g.suppressed} |")
    lines += ["", *(f"- {note}" for note in _notes(report))]
    return "\n".join(lines) + "\n"


def write(report: Report, reports: Path) -> None:
    """security.sarif, summary.json and summary.md (and the GitHub job summary)."""
    merged = sarif.document([g.run for g in report.gates if g.run is not None])
    problems = sarif.validate(merged)
    if problems:
        raise gate.GateError(f"the merged SARIF is not valid: {problems[0]}")
    sarif.write(reports / MERGED, merged)
    data: dict[str, Any] = {
        "score": report.score,
        "failed": report.failed,
        "gates": [
            {k: v for k, v in asdict(g).items() if k not in ("run", "used")} for g in report.gates
        ],
        "expired_suppressions": report.expired,
        "unused_suppressions": report.unused,
    }
    (reports / "summary.json").write_text(json.dumps(data, indent=2) + "\n")
    text = markdown(report)
    (reports / "summary.md").write_text(text)
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        with open(step_summary, "a", encoding="utf-8") as handle:
            handle.write(text)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ops.security.summary [options]``: exit 1 when the gate fails."""
    try:
        options = gate.parse_options("summary", sys.argv[1:] if argv is None else argv)
        today = gate.utc_today()
        options.reports.mkdir(parents=True, exist_ok=True)
        report = build(options.reports, load(options.suppressions, today), today)
        write(report, options.reports)
    except (gate.GateError, ValueError) as error:
        print(f"security: {error}", file=sys.stderr)
        return gate.EXIT_ERROR
    print(table(report), file=sys.stderr if report.failed else sys.stdout)
    return gate.EXIT_FAILED if report.failed else gate.EXIT_PASSED


if __name__ == "__main__":
    sys.exit(main())
