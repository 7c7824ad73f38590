"""What every gate shares: options, running a tool, judging findings, writing reports.

A gate module defines ``scan(options) -> GateResult`` and its ``main`` calls
:func:`main`, which parses the options, applies the suppression list, writes
``<gate>.sarif`` and ``<gate>.status.json`` under the reports directory, prints
the findings and returns the exit status: 0 passed or skipped (with a reason),
1 failed, 2 could not run (the message is one line, never a traceback).

Every gate accepts every option below and ignores those meant for another gate,
so ``nox -t security -- --allow-offline`` can hand one set of options to all of
them; a misspelt option is still an error.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Container, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, NoReturn

from ops.project import LOCKFILE, REPORTS, ROOT
from ops.security import sarif
from ops.security.findings import SEVERITIES, Finding, sort_key
from ops.security.suppressions import Assessment, SuppressionError, assess, expired, load

REPORT_DIR = REPORTS / "security"
SUPPRESSIONS = ROOT / "security" / "suppressions.toml"
EXIT_PASSED, EXIT_FAILED, EXIT_ERROR = 0, 1, 2
TOOL_TIMEOUT = 900.0
PRINTED_FINDINGS = 40
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class GateError(Exception):
    """The gate could not do its job; the message is one line saying why."""


@dataclass(frozen=True, slots=True)
class Options:
    """Options of every gate (each reads the ones it needs)."""

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
    uv: str = "uv"
    max_examples: int = 10
    extra_rules: tuple[str, ...] = ()


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise GateError(message)


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
    add("--uv", default="uv", help="sbom, licenses: uv, to build the locked runtime environment")
    add("--max-examples", type=int, default=10, help="api-security: schemathesis examples")
    add("--extra-rules", action="append", default=[], help="semgrep: add a registry ruleset")
    return parser


def parse_options(gate: str, argv: Sequence[str]) -> Options:
    """The options in ``argv``; GateError (one line) on anything unknown or malformed."""
    values = vars(_parser(gate).parse_args(list(argv)))
    for key in ("reports", "root", "lock", "suppressions"):
        values[key] = values[key].resolve()
    if values["max_examples"] < 1:
        raise GateError("--max-examples must be at least 1")
    values["extra_rules"] = tuple(values["extra_rules"])
    return Options(**values)


@dataclass(frozen=True, slots=True)
class ToolRun:
    """What a tool printed, and how it exited."""

    returncode: int
    stdout: str
    stderr: str


def find_tool(name: str) -> str:
    """The executable ``name``: beside this interpreter (its virtualenv), else on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise GateError(
            f"{name} not found: install the security dependency group (uv sync --group security)"
        )
    return found


def run_tool(
    command: Sequence[str],
    *,
    cwd: Path,
    ok: Container[int] = (0,),
    timeout: float = TOOL_TIMEOUT,
    env: Mapping[str, str] | None = None,
) -> ToolRun:
    """Run a scanner; GateError naming it when it is missing, hangs or fails."""
    name = Path(command[0]).name
    try:
        done = subprocess.run(  # noqa: S603 - a scanner with arguments built here
            list(command),
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **(env or {})},
            check=False,
        )
    except FileNotFoundError:
        raise GateError(f"{name} not found") from None
    except subprocess.TimeoutExpired:
        raise GateError(f"{name} did not finish within {timeout:g}s") from None
    if done.returncode not in ok:
        detail = last_line(done.stderr) or last_line(done.stdout) or "no output"
        raise GateError(f"{name} failed (exit {done.returncode}): {detail}")
    return ToolRun(done.returncode, done.stdout, done.stderr)


def last_line(text: str, limit: int = 300) -> str:
    """The last non-empty line of a tool's output, without colour codes, shortened."""
    lines = [line.strip() for line in _ANSI.sub("", text).splitlines() if line.strip()]
    return lines[-1][:limit] if lines else ""


def package_version(distribution: str) -> str:
    """The installed version of a Python distribution, or ``""``."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return ""


def load_json(path: Path, what: str) -> Any:
    """JSON from ``path``; GateError naming ``what`` when it is missing or corrupt."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GateError(f"{what} missing: {path}") from None
    except (OSError, ValueError) as error:
        raise GateError(f"{what} is not valid JSON ({path.name}): {error}") from None


@dataclass(slots=True)
class GateResult:
    """What a scan found and what it could not check."""

    gate: str
    tool: str
    version: str = ""
    findings: list[Finding] = field(default_factory=list)
    skipped_checks: list[str] = field(default_factory=list)
    skip_reason: str = ""
    failure: str = ""
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Outcome:
    """The verdict on a result once the suppression list is applied."""

    status: str
    reason: str
    assessments: list[Assessment]
    expired: list[str]

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


def decide(result: GateResult, assessments: list[Assessment], expired_lines: list[str]) -> Outcome:
    """Failed on a failure, a blocking finding or an expired suppression; else skipped or passed."""
    blocking = [item.finding for item in assessments if item.blocking]
    reasons = [result.failure] if result.failure else []
    if blocking:
        places = list(dict.fromkeys(f"{f.rule_id} at {f.location}" for f in blocking))
        more = f" and {len(places) - 5} more" if len(places) > 5 else ""
        named = "; ".join(places[:5]) + more
        reasons.append(f"{len(blocking)} unsuppressed high/critical finding(s): {named}")
    reasons += expired_lines
    if reasons:
        return Outcome("failed", "; ".join(reasons), assessments, expired_lines)
    status = "skipped" if result.skip_reason else "passed"
    return Outcome(status, result.skip_reason, assessments, expired_lines)


def utc_today() -> date:
    """Today's date in UTC (suppressions expire at the same moment everywhere)."""
    return datetime.now(UTC).date()


def status_path(reports: Path, gate: str) -> Path:
    """Where a gate's status file goes."""
    return reports / f"{gate}.status.json"


def sarif_path(reports: Path, gate: str) -> Path:
    """Where a gate's SARIF file goes."""
    return reports / f"{gate}.sarif"


def write_reports(result: GateResult, outcome: Outcome, reports: Path) -> None:
    """``<gate>.sarif`` (every finding, suppressed ones marked) and ``<gate>.status.json``."""
    properties = {
        "status": outcome.status,
        "reason": outcome.reason,
        "skipped": result.skipped_checks,
    }
    run = sarif.build_run(result.gate, result.tool, result.version, outcome.assessments, properties)
    sarif.write(sarif_path(reports, result.gate), sarif.document([run]))
    status = {
        "gate": result.gate,
        "tool": result.tool,
        "version": result.version,
        "status": outcome.status,
        "reason": outcome.reason,
        "counts": outcome.counts(),
        "suppressed": outcome.suppressed,
        "skipped_checks": result.skipped_checks,
        "expired_suppressions": outcome.expired,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    status_path(reports, result.gate).write_text(json.dumps(status, indent=2) + "\n")


def render(result: GateResult, outcome: Outcome) -> str:
    """What the terminal shows: findings worst first, skipped checks, then the verdict."""
    counts = outcome.counts()
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "no findings"
    title = f"{result.tool} {result.version}".strip()
    lines = [f"{title}: {summary}; {outcome.suppressed} suppressed"]
    lines += [f"  {note}" for note in result.notes]
    active = [item.finding for item in outcome.assessments if item.suppression is None]
    groups = _grouped(sorted(active, key=sort_key))
    for finding, alike in groups[:PRINTED_FINDINGS]:
        more = f" (and {alike} more like it)" if alike else ""
        lines.append(f"  {finding.describe()}{more}")
    if len(groups) > PRINTED_FINDINGS:
        lines.append(f"  ... {len(groups) - PRINTED_FINDINGS} more in the SARIF report")
    suppressed = Counter(
        f"{item.finding.rule_id} {item.finding.path}"
        for item in outcome.assessments
        if item.suppression is not None
    )
    if suppressed:
        listed = ", ".join(f"{key} (x{count})" for key, count in sorted(suppressed.items()))
        lines.append(f"  suppressed after review: {listed}")
    lines += [f"  skipped: {check}" for check in result.skipped_checks]
    verdict = outcome.status.upper() if outcome.status == "failed" else outcome.status
    lines.append(f"{result.gate}: {verdict}" + (f" - {outcome.reason}" if outcome.reason else ""))
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
    scan: Callable[[Options], GateResult],
    argv: Sequence[str] | None = None,
) -> int:
    """Run one gate from the command line; the exit status is the verdict."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        options = parse_options(gate, args)
    except GateError as error:
        return _could_not_run(GateResult(gate, tool, failure=str(error)), _reports_in(args))
    options.reports.mkdir(parents=True, exist_ok=True)
    for stale in (status_path(options.reports, gate), sarif_path(options.reports, gate)):
        stale.unlink(missing_ok=True)
    today = utc_today()
    try:
        entries = load(options.suppressions, today)
        result = scan(options)
    except (GateError, SuppressionError) as error:
        return _could_not_run(GateResult(gate, tool, failure=str(error)), options.reports)
    outcome = decide(result, assess(result.findings, entries, today), expired(entries, today, gate))
    write_reports(result, outcome, options.reports)
    print(render(result, outcome), file=sys.stderr if outcome.status == "failed" else sys.stdout)
    return EXIT_FAILED if outcome.status == "failed" else EXIT_PASSED


def _reports_in(args: Sequence[str]) -> Path:
    """The reports directory named in options that did not parse, else the default."""
    for number, arg in enumerate(args):
        if arg.startswith("--reports="):
            return Path(arg.split("=", 1)[1])
        if arg == "--reports" and number + 1 < len(args):
            return Path(args[number + 1])
    return REPORT_DIR


def _could_not_run(result: GateResult, reports: Path) -> int:
    outcome = Outcome("failed", result.failure, [], [])
    reports.mkdir(parents=True, exist_ok=True)
    write_reports(result, outcome, reports)
    print(f"{result.gate}: {result.failure}", file=sys.stderr)
    return EXIT_ERROR
