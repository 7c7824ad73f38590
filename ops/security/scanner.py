"""What every scanner shares: options, judging findings, writing reports, the exit code.

A gate module defines ``scan(options) -> ScanResult`` and its ``main`` calls
:func:`main`, which parses the options, applies the suppression list, writes
``<gate>.sarif`` and ``<gate>.status.json`` under the reports directory, prints
the findings and returns the exit code of :mod:`ops.core.exits`:

- 0 passed;
- 1 failed: an unsuppressed high or critical finding, or an expired suppression;
- 2 could not run: a bad option, a missing tool, a tool that failed, a corrupt
  file (the message is one line, never a traceback);
- 3 inconclusive: nothing failed, but a check could not be made (the gate skipped
  it and names it: an unreachable vulnerability service with ``--allow-offline``,
  trivy's vulnerability database, a file a scanner could not parse).

Scanners run through :mod:`ops.core.commands`; whatever stops a scan (a
:class:`ScanError`, a :class:`~ops.core.commands.CommandError`, a bad suppression
list) is an :class:`~ops.core.exits.OpsError`, and :func:`main` reports it as
"could not run".

Every gate accepts every option below and ignores those meant for another gate,
so ``nox -t security -- --allow-offline`` can hand one set of options to all of
them; a misspelt option is still an error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, NoReturn

from ops.core import environ
from ops.core.commands import Completed, failure_line
from ops.core.console import to_json, write_atomically
from ops.core.exits import (
    CANNOT_RUN,
    CHECK_FAILED,
    DONE,
    INCONCLUSIVE,
    CannotRun,
    OpsError,
    one_line,
)
from ops.project import LOCKFILE, REPORTS, ROOT
from ops.security import sarif
from ops.security.findings import SEVERITIES, Finding, sort_key
from ops.security.suppressions import Assessment, assess, expired, load

REPORT_DIR = REPORTS / "security"
SUPPRESSIONS = ROOT / "security" / "suppressions.toml"
HINT = "install the security dependency group (uv sync --group security)"
"""How to get a missing scanner (for :func:`~ops.core.commands.find_executable`)."""
PRINTED_FINDINGS = 40
PASSED, SKIPPED, FAILED = "passed", "skipped", "failed"


class ScanError(CannotRun):
    """The gate could not do its job; the message is one line saying why."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    """Options of every gate (each reads the ones it needs), and the environment it runs in."""

    env: Mapping[str, str] = field(repr=False)
    reports: Path = REPORT_DIR
    root: Path = ROOT
    lock: Path = LOCKFILE
    suppressions: Path = SUPPRESSIONS
    allow_offline: bool = False
    history: bool = False
    update_baseline: bool = False
    image: str | None = None
    vulnerability_file: Path | None = None
    python: str | None = None
    uv: str | None = None
    max_examples: int = 10
    extra_rules: tuple[str, ...] = ()


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise ScanError(message)


def _parser(gate: str) -> argparse.ArgumentParser:
    parser = _Parser(prog=f"python -m ops.security.{gate.replace('-', '_')}")
    add = parser.add_argument
    add("--reports", type=Path, default=REPORT_DIR, help="where reports go")
    add("--root", type=Path, default=ROOT, help="tree to scan (default: this repository)")
    add("--lock", type=Path, default=LOCKFILE, help="uv.lock to audit / compare (audit, sbom)")
    add("--suppressions", type=Path, default=SUPPRESSIONS, help="the reviewed suppression list")
    add("--allow-offline", action="store_true", help="audit: record an unreachable service")
    add("--history", action="store_true", help="secrets: scan every commit too")
    add("--update-baseline", action="store_true", help="secrets: add new findings, unreviewed")
    add("--image", help="trivy: also scan this image reference")
    add("--vulnerability-file", type=Path, help="audit: local OSV records to check against")
    add("--python", help="sbom, licenses: inspect this environment's interpreter")
    add("--uv", help="sbom, licenses: the uv that builds the locked runtime (default: $UV, PATH)")
    add("--max-examples", type=int, default=10, help="api-security: schemathesis examples")
    add("--extra-rules", action="append", default=[], help="semgrep: add a registry ruleset")
    return parser


def parse_options(gate: str, argv: Sequence[str], env: Mapping[str, str]) -> Options:
    """The options in ``argv``; ScanError (one line) on anything unknown or malformed."""
    values = vars(_parser(gate).parse_args(list(argv)))
    for key in ("reports", "root", "lock", "suppressions"):
        values[key] = values[key].resolve()
    if values["max_examples"] < 1:
        raise ScanError("--max-examples must be at least 1")
    values["extra_rules"] = tuple(values["extra_rules"])
    return Options(env=env, **values)


def native_report(options: Options, name: str) -> Path:
    """Where a scanner writes its own report (``native/NAME``), with no stale copy left."""
    path = options.reports / "native" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    return path


def json_output(done: Completed, tool: str) -> Any:
    """What a scanner printed on stdout, as JSON; ScanError with its reason when it is not."""
    try:
        return json.loads(done.stdout)
    except ValueError:
        reason = failure_line(done.stderr, program=tool)
        raise ScanError(f"{tool} printed no JSON: {reason}") from None


def package_version(distribution: str) -> str:
    """The installed version of a Python distribution, or ``""``."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return ""


def load_json(path: Path, what: str) -> Any:
    """JSON from ``path``; ScanError naming ``what`` when it is missing or corrupt."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ScanError(f"{what} missing: {path}") from None
    except (OSError, ValueError) as error:
        raise ScanError(f"{what} is not valid JSON ({path.name}): {error}") from None


@dataclass(slots=True)
class ScanResult:
    """What a scan found and what it could not check."""

    gate: str
    tool: str
    version: str = ""
    findings: list[Finding] = field(default_factory=list)
    skipped_checks: list[str] = field(default_factory=list)
    skip_reason: str = ""
    failure: str = ""
    notes: list[str] = field(default_factory=list)


def exit_code_for(status: str, skipped_checks: Sequence[str] = ()) -> int:
    """The exit code of a verdict: 1 failed; 3 when the gate, or a check in it, was
    skipped and nothing failed; 0 passed."""
    if status == FAILED:
        return CHECK_FAILED
    return INCONCLUSIVE if status == SKIPPED or skipped_checks else DONE


@dataclass(frozen=True, slots=True)
class Verdict:
    """The judgement of a scan once the suppression list is applied."""

    status: str
    reason: str
    assessments: list[Assessment]
    expired: list[str]
    skipped_checks: tuple[str, ...] = ()

    def counts(self) -> dict[str, int]:
        """Unsuppressed findings by severity."""
        counts = dict.fromkeys((s.value for s in SEVERITIES), 0)
        for item in self.assessments:
            if item.suppression is None:
                counts[item.finding.severity.value] += 1
        return counts

    @property
    def suppressed(self) -> int:
        """How many findings a reviewed suppression covers."""
        return sum(item.suppression is not None for item in self.assessments)

    @property
    def exit_code(self) -> int:
        """0 passed, 1 failed, 3 inconclusive (see :func:`exit_code_for`)."""
        return exit_code_for(self.status, self.skipped_checks)

    def headline(self) -> str:
        """``FAILED``, ``skipped``, ``passed``, or ``passed, N check(s) skipped``."""
        if self.status == FAILED:
            return "FAILED"
        if self.status == PASSED and self.skipped_checks:
            return f"passed, {len(self.skipped_checks)} check(s) skipped"
        return self.status


def decide(result: ScanResult, assessments: list[Assessment], expired_lines: list[str]) -> Verdict:
    """Failed on a failure, a blocking finding or an expired suppression; else skipped or passed."""
    blocking = [item.finding for item in assessments if item.blocking]
    reasons = [result.failure] if result.failure else []
    if blocking:
        places = list(dict.fromkeys(f"{f.rule_id} at {f.location}" for f in blocking))
        more = f" and {len(places) - 5} more" if len(places) > 5 else ""
        named = "; ".join(places[:5]) + more
        reasons.append(f"{len(blocking)} unsuppressed high/critical finding(s): {named}")
    reasons += expired_lines
    skipped = tuple(result.skipped_checks)
    if reasons:
        return Verdict(FAILED, "; ".join(reasons), assessments, expired_lines, skipped)
    status = SKIPPED if result.skip_reason else PASSED
    return Verdict(status, result.skip_reason, assessments, expired_lines, skipped)


def utc_today() -> date:
    """Today's date in UTC (suppressions expire at the same moment everywhere)."""
    return datetime.now(UTC).date()


def status_path(reports: Path, gate: str) -> Path:
    """Where a gate's status file goes."""
    return reports / f"{gate}.status.json"


def sarif_path(reports: Path, gate: str) -> Path:
    """Where a gate's SARIF file goes."""
    return reports / f"{gate}.sarif"


def write_reports(result: ScanResult, verdict: Verdict, reports: Path) -> None:
    """``<gate>.sarif`` (every finding, suppressed ones marked) and ``<gate>.status.json``."""
    properties = {
        "status": verdict.status,
        "reason": verdict.reason,
        "skipped": result.skipped_checks,
    }
    run = sarif.build_run(result.gate, result.tool, result.version, verdict.assessments, properties)
    sarif.write(sarif_path(reports, result.gate), sarif.document([run]))
    status = {
        "gate": result.gate,
        "tool": result.tool,
        "version": result.version,
        "status": verdict.status,
        "reason": verdict.reason,
        "counts": verdict.counts(),
        "suppressed": verdict.suppressed,
        "skipped_checks": result.skipped_checks,
        "expired_suppressions": verdict.expired,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    write_atomically(status_path(reports, result.gate), to_json(status) + "\n")


def render(result: ScanResult, verdict: Verdict) -> str:
    """What the terminal shows: findings worst first, skipped checks, then the verdict."""
    counts = verdict.counts()
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "no findings"
    title = f"{result.tool} {result.version}".strip()
    lines = [f"{title}: {summary}; {verdict.suppressed} suppressed"]
    lines += [f"  {note}" for note in result.notes]
    active = [item.finding for item in verdict.assessments if item.suppression is None]
    groups = _grouped(sorted(active, key=sort_key))
    for finding, alike in groups[:PRINTED_FINDINGS]:
        more = f" (and {alike} more like it)" if alike else ""
        lines.append(f"  {finding.describe()}{more}")
    if len(groups) > PRINTED_FINDINGS:
        lines.append(f"  ... {len(groups) - PRINTED_FINDINGS} more in the SARIF report")
    suppressed = Counter(
        f"{item.finding.rule_id} {item.finding.path}"
        for item in verdict.assessments
        if item.suppression is not None
    )
    if suppressed:
        listed = ", ".join(f"{key} (x{count})" for key, count in sorted(suppressed.items()))
        lines.append(f"  suppressed after review: {listed}")
    lines += [f"  skipped: {check}" for check in result.skipped_checks]
    reason = f" - {verdict.reason}" if verdict.reason else ""
    lines.append(f"{result.gate}: {verdict.headline()}{reason}")
    return "\n".join(lines)


def _grouped(findings: Sequence[Finding]) -> list[tuple[Finding, int]]:
    """The first finding of each rule at each place, and how many others are like it."""
    groups: dict[tuple[str, str, str], list[Finding]] = {}
    for finding in findings:
        key = (finding.severity.value, finding.rule_id, finding.location)
        groups.setdefault(key, []).append(finding)
    return [(alike[0], len(alike) - 1) for alike in groups.values()]


def main(
    gate: str,
    tool: str,
    scan: Callable[[Options], ScanResult],
    argv: Sequence[str] | None = None,
) -> int:
    """Run one gate from the command line; the exit code is the verdict."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        options = parse_options(gate, args, environ.current())
    except OpsError as error:
        return _could_not_run(ScanResult(gate, tool, failure=one_line(error)), _reports_in(args))
    options.reports.mkdir(parents=True, exist_ok=True)
    for stale in (status_path(options.reports, gate), sarif_path(options.reports, gate)):
        stale.unlink(missing_ok=True)
    try:
        load(options.suppressions, utc_today())  # a bad suppression list stops every gate
        result = scan(options)
        return conclude(result, options.suppressions, options.reports)
    except OpsError as error:
        return _could_not_run(ScanResult(gate, tool, failure=one_line(error)), options.reports)


def judge(result: ScanResult, suppressions: Path, reports: Path) -> Verdict:
    """Judge a scan against the reviewed suppressions and write ``<gate>.sarif`` and
    ``<gate>.status.json`` under ``reports``."""
    today = utc_today()
    entries = load(suppressions, today)
    gate = result.gate
    verdict = decide(result, assess(result.findings, entries, today), expired(entries, today, gate))
    reports.mkdir(parents=True, exist_ok=True)
    write_reports(result, verdict, reports)
    return verdict


def conclude(result: ScanResult, suppressions: Path, reports: Path) -> int:
    """:func:`judge`, then print the verdict; its exit code."""
    verdict = judge(result, suppressions, reports)
    print(render(result, verdict), file=sys.stderr if verdict.status == FAILED else sys.stdout)
    return verdict.exit_code


def _reports_in(args: Sequence[str]) -> Path:
    """The reports directory named in options that did not parse, else the default."""
    for number, arg in enumerate(args):
        if arg.startswith("--reports="):
            return Path(arg.split("=", 1)[1])
        if arg == "--reports" and number + 1 < len(args):
            return Path(args[number + 1])
    return REPORT_DIR


def _could_not_run(result: ScanResult, reports: Path) -> int:
    verdict = Verdict(FAILED, result.failure, [], [])
    reports.mkdir(parents=True, exist_ok=True)
    write_reports(result, verdict, reports)
    print(f"{result.gate}: {result.failure}", file=sys.stderr)
    return CANNOT_RUN
