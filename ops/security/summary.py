"""The ``security`` summary: every gate's findings in one SARIF file, one table, one score.

Reads ``<gate>.status.json`` and ``<gate>.sarif`` of every gate (a gate that wrote
nothing is skipped with the reason "not run"), applies the suppression list again
(an entry that expired since a gate ran counts now), and writes to the reports
directory ``security.sarif`` (SARIF 2.1.0, one run per gate), ``summary.json`` and
``summary.md`` (appended to ``$GITHUB_STEP_SUMMARY`` in GitHub Actions).

It exits 1 on a failed gate, on any unsuppressed high or critical finding, and on
an expired suppression, naming each; 3 (inconclusive) when nothing failed but a
gate was skipped or did not run, or skipped a check; 2 when it cannot run; else 0.
The score (0-100) is described in :mod:`ops.security.score`.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from ops.core import environ
from ops.core.console import append_step_summary, table, to_json, write_atomically
from ops.core.exits import CANNOT_RUN, CHECK_FAILED, DONE, INCONCLUSIVE, OpsError, one_line
from ops.security import GATES, sarif, scanner, score
from ops.security.findings import SEVERITIES
from ops.security.scanner import FAILED, PASSED, SKIPPED, ScanError
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
    status_file = scanner.status_path(reports, name)
    if not status_file.exists():
        return GateSummary(name, SKIPPED, NOT_RUN)
    status = scanner.load_json(status_file, f"{name} status")
    if not isinstance(status, dict) or status.get("status") not in (PASSED, SKIPPED, FAILED):
        raise ScanError(f"{status_file.name} has no status (passed, skipped or failed)")
    summary = GateSummary(name, str(status["status"]), str(status.get("reason", "")))
    summary.tool = str(status.get("tool", ""))
    summary.skipped_checks = list(status.get("skipped_checks", []))
    try:
        log = sarif.read(scanner.sarif_path(reports, name))
    except ValueError as error:
        summary.status, summary.reason = FAILED, str(error)
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
    if summary.blocking and summary.status != FAILED:
        summary.status = FAILED
        summary.reason = f"{summary.blocking} unsuppressed high/critical finding(s)"


def unused(entries: Sequence[Suppression], gates: Sequence[GateSummary]) -> list[str]:
    """Suppressions of gates that ran which matched nothing: candidates for removal."""
    ran = {g.gate for g in gates if g.run is not None and (g.status == PASSED or g.suppressed)}
    used = {entry for g in gates for entry in g.used}
    return [entry.describe() for entry in entries if entry.tool in ran and entry not in used]


@dataclass(frozen=True, slots=True)
class SecuritySummary:
    """Everything the summary prints and writes: every gate judged again, and the score."""

    gates: list[GateSummary]
    expired: list[str]
    unused: list[str]
    score: int

    @property
    def failed(self) -> bool:
        """A gate failed, a finding blocks, or a suppression expired."""
        return bool(self.expired) or any(g.status == FAILED for g in self.gates)

    @property
    def exit_code(self) -> int:
        """1 failed; 3 nothing failed but something was skipped or not run; else 0."""
        if self.failed:
            return CHECK_FAILED
        codes = {scanner.exit_code_for(g.status, g.skipped_checks) for g in self.gates}
        return INCONCLUSIVE if INCONCLUSIVE in codes else DONE

    @property
    def verdict(self) -> str:
        """``failed``, ``inconclusive`` or ``passed``."""
        return {CHECK_FAILED: FAILED, INCONCLUSIVE: "inconclusive"}.get(self.exit_code, PASSED)


def build(reports: Path, entries: Sequence[Suppression], today: date) -> SecuritySummary:
    """Judge every gate's reports and compute the score."""
    gates = [gate_summary(reports, name, entries, today) for name in GATES]
    if all(g.reason == NOT_RUN for g in gates):
        raise ScanError(f"no gate has reported to {reports}: run `nox -t security` first")
    totals = {s: sum(g.counts[s.value] for g in gates) for s in SEVERITIES}
    nothing_checked = sum(
        g.status == SKIPPED
        or (g.status == FAILED and not any(g.counts.values()) and not g.suppressed)
        for g in gates
    )
    partial = sum(len(g.skipped_checks) for g in gates if g.status != SKIPPED)
    return SecuritySummary(
        gates,
        expired(entries, today),
        unused(entries, gates),
        score.score(totals, nothing_checked, partial),
    )


def text(summary: SecuritySummary) -> str:
    """The terminal table: findings by gate and severity, what was skipped, the score."""
    headers = ["gate", "tool", "status", *_LABELS, "suppressed"]
    rows = [
        [g.gate, g.tool or "-", g.status, *(g.counts[s] for s in _LABELS), g.suppressed]
        for g in summary.gates
    ]
    lines = [table(headers, rows), "", *_notes(summary)]
    verdict = summary.verdict.upper() if summary.failed else summary.verdict
    lines.append(f"security: {verdict} - score {summary.score}/100")
    return "\n".join(lines)


def _notes(summary: SecuritySummary) -> list[str]:
    lines = []
    for g in summary.gates:
        if g.status in (SKIPPED, FAILED) and g.reason:
            lines.append(f"{g.status}: {g.gate}: {g.reason}")
        lines += [f"skipped check: {g.gate}: {check}" for check in g.skipped_checks]
    lines += [f"expired: {line}" for line in summary.expired]
    lines += [f"unused suppression (remove it?): {line}" for line in summary.unused]
    lines.append(
        "score = 100 - (25 x critical + 10 x high + 3 x medium + min(10, low)"
        " + 10 x gate not checked + 5 x check skipped), at least 0"
    )
    return lines


def markdown(summary: SecuritySummary) -> str:
    """The same summary as Markdown, for the job summary."""
    lines = [
        f"## Security gates: {summary.verdict}, score {summary.score}/100",
        "",
        "| gate | tool | status | " + " | ".join(_LABELS) + " | suppressed |",
        "|---|---|---|" + "---:|" * (len(_LABELS) + 1),
    ]
    for g in summary.gates:
        counts = " | ".join(str(g.counts[s]) for s in _LABELS)
        lines.append(f"| {g.gate} | {g.tool or '-'} | {g.status} | {counts} | {g.suppressed} |")
    lines += ["", *(f"- {note}" for note in _notes(summary))]
    return "\n".join(lines) + "\n"


def write(summary: SecuritySummary, reports: Path, env: Mapping[str, str]) -> None:
    """security.sarif, summary.json and summary.md (and the GitHub job summary)."""
    merged = sarif.document([g.run for g in summary.gates if g.run is not None])
    problems = sarif.validate(merged)
    if problems:
        raise ScanError(f"the merged SARIF is not valid: {problems[0]}")
    sarif.write(reports / MERGED, merged)
    data: dict[str, Any] = {
        "score": summary.score,
        "verdict": summary.verdict,
        "failed": summary.failed,
        "gates": [
            {k: v for k, v in asdict(g).items() if k not in ("run", "used")} for g in summary.gates
        ],
        "expired_suppressions": summary.expired,
        "unused_suppressions": summary.unused,
    }
    write_atomically(reports / "summary.json", to_json(data) + "\n")
    page = markdown(summary)
    write_atomically(reports / "summary.md", page)
    append_step_summary(page, env)


@dataclass(frozen=True, slots=True)
class Reported:
    """A ``summary.json`` read back (the pull request feedback shows it): the score, the
    verdict and the notes on what failed, was skipped or expired."""

    score: int
    verdict: str
    notes: list[str]


def read_reported(path: Path) -> Reported:
    """What :func:`write` left in ``summary.json``; :class:`ScanError` naming the file when
    it is missing, corrupt or has no score and verdict."""
    data = scanner.load_json(path, "the security summary")
    score_ = data.get("score") if isinstance(data, dict) else None
    verdict = data.get("verdict") if isinstance(data, dict) else None
    if not isinstance(score_, int) or verdict not in (PASSED, FAILED, "inconclusive"):
        raise ScanError(f"{path.name} has no score and verdict: not a security summary")
    notes = []
    for gate in data.get("gates", []):
        if gate.get("status") in (SKIPPED, FAILED) and gate.get("reason"):
            notes.append(f"{gate['status']}: {gate.get('gate')}: {gate['reason']}")
        notes += [f"skipped check: {gate.get('gate')}: {c}" for c in gate.get("skipped_checks", [])]
    notes += [f"expired: {line}" for line in data.get("expired_suppressions", [])]
    return Reported(score_, str(verdict), notes)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ops.security.summary [options]``: exit 0 passed, 1 failed, 2 could not
    run, 3 inconclusive (nothing failed, something was skipped)."""
    env = environ.current()
    try:
        options = scanner.parse_options("summary", sys.argv[1:] if argv is None else argv, env)
        today = scanner.utc_today()
        options.reports.mkdir(parents=True, exist_ok=True)
        summary = build(options.reports, load(options.suppressions, today), today)
        write(summary, options.reports, env)
    except OpsError as error:
        print(f"security: {one_line(error)}", file=sys.stderr)
        return CANNOT_RUN
    print(text(summary), file=sys.stderr if summary.failed else sys.stdout)
    return summary.exit_code


if __name__ == "__main__":
    sys.exit(main())
