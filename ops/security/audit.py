"""The ``audit`` gate: known vulnerabilities in every package uv.lock pins (pip-audit).

Every pin is audited (all dependency groups: CI and developers install them
too), against PyPI's vulnerability data. pip-audit reports a package it could not
look up as skipped and still says "No known vulnerabilities found" with exit 0,
so the gate counts them: when at least half of the packages could not be looked
up, or pip-audit could not reach its service at all, nothing was audited and the
gate fails with "could not audit: <reason>". ``--allow-offline`` turns that into
a skip the summary names (exit 3, inconclusive); it never hides a vulnerability
found. Packages that could not be looked up while the rest were are named as a
skipped check (exit 3 too, when nothing failed).

``--vulnerability-file PATH`` checks the pins against local OSV records too, with
no network: internal advisories, or a known-vulnerable record to prove the gate.
pip-audit gives no severity, so its findings are high; an OSV record's
``database_specific.severity`` is used when it has one.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from ops.core.commands import check, find_executable, last_line
from ops.project import normalize
from ops.security import scanner
from ops.security.dependencies import LockedPackage, locked_packages
from ops.security.findings import Finding, Severity, severity_of

NAME = "audit"
TOOL = "pip-audit"
UNREACHABLE_SHARE = 0.5


def requirements(packages: Iterable[LockedPackage]) -> str:
    """``name==version`` lines for pip-audit (registry packages only)."""
    return "".join(f"{p.name}=={p.version}\n" for p in packages if p.registry)


def command(pip_audit: str, requirements_file: Path, output: Path) -> list[str]:
    """pip-audit over pinned requirements, without resolving or installing anything."""
    return [
        pip_audit, "--requirement", str(requirements_file), "--no-deps", "--disable-pip",
        "--format", "json", "--output", str(output), "--progress-spinner", "off",
    ]  # fmt: skip


@dataclass(frozen=True, slots=True)
class Evaluation:
    """What a pip-audit report says: vulnerabilities, and packages it could not look up."""

    findings: list[Finding]
    unaudited: list[tuple[str, str]]
    audited: int


def evaluate(report: Any, packages: Sequence[LockedPackage]) -> Evaluation:
    """Findings and unaudited packages from pip-audit's JSON (a pure function)."""
    if not isinstance(report, dict) or not isinstance(report.get("dependencies"), list):
        raise scanner.ScanError("pip-audit report has no dependencies list")
    lines = {normalize(p.name): p.line for p in packages}
    findings, unaudited = [], []
    for dependency in report["dependencies"]:
        name = str(dependency.get("name", "?"))
        if "skip_reason" in dependency:
            unaudited.append((name, str(dependency["skip_reason"])))
            continue
        for vuln in dependency.get("vulns", []):
            findings.append(_pip_audit_finding(name, str(dependency.get("version")), vuln, lines))
    audited = len(report["dependencies"]) - len(unaudited)
    return Evaluation(findings, unaudited, audited)


def _pip_audit_finding(
    name: str, version: str, vuln: dict[str, Any], lines: dict[str, int]
) -> Finding:
    fixes = ", ".join(vuln.get("fix_versions") or []) or "no fixed release yet"
    aliases = ", ".join(vuln.get("aliases") or [])
    also = f" ({aliases})" if aliases else ""
    summary = " ".join(str(vuln.get("description", "")).split())[:200]
    message = f"{name} {version}: {vuln['id']}{also}, fixed in {fixes}. {summary}".strip()
    line = lines.get(normalize(name), 1)
    return Finding(NAME, str(vuln["id"]), Severity.HIGH, message, "uv.lock", line)


def unreachable(evaluation: Evaluation) -> str | None:
    """Why nothing was audited, when at least half the packages could not be looked up."""
    total = evaluation.audited + len(evaluation.unaudited)
    if not evaluation.unaudited or len(evaluation.unaudited) < total * UNREACHABLE_SHARE:
        return None
    example = evaluation.unaudited[0][1]
    return (
        f"vulnerability service unreachable: {len(evaluation.unaudited)} of {total} packages "
        f"could not be looked up (e.g. {example})"
    )


def osv_findings(records: Any, packages: Sequence[LockedPackage]) -> list[Finding]:
    """Findings for the pins that local OSV records mark as affected (a pure function)."""
    if isinstance(records, dict):
        records = records.get("vulns", [records])
    if not isinstance(records, list):
        raise scanner.ScanError("the vulnerability file must hold OSV records (a list)")
    findings = []
    for record in records:
        for package in packages:
            if _affects(record, package):
                findings.append(_osv_finding(record, package))
    return findings


def _affects(record: dict[str, Any], package: LockedPackage) -> bool:
    for affected in record.get("affected", []):
        target = affected.get("package", {})
        if target.get("ecosystem", "PyPI") != "PyPI":
            continue
        if normalize(str(target.get("name", ""))) != normalize(package.name):
            continue
        if package.version in affected.get("versions", []):
            return True
        if any(_in_range(r, package.version) for r in affected.get("ranges", [])):
            return True
    return False


def _in_range(range_: dict[str, Any], version: str) -> bool:
    """OSV ECOSYSTEM range events: introduced / fixed / last_affected, in order."""
    try:
        current = Version(version)
        affected = False
        for event in range_.get("events", []):
            if "introduced" in event:
                start = event["introduced"]
                affected = affected or start == "0" or current >= Version(start)
            elif _ends(event, current):
                affected = False
        return affected
    except InvalidVersion:
        return False


def _ends(event: dict[str, str], current: Version) -> bool:
    if "fixed" in event:
        return current >= Version(event["fixed"])
    return "last_affected" in event and current > Version(event["last_affected"])


def _osv_finding(record: dict[str, Any], package: LockedPackage) -> Finding:
    label = str(record.get("database_specific", {}).get("severity", ""))
    severity = severity_of(label, Severity.HIGH) if label else Severity.HIGH
    summary = str(record.get("summary") or record.get("details", ""))[:200]
    aliases = ", ".join(record.get("aliases") or [])
    also = f" ({aliases})" if aliases else ""
    message = f"{package.name} {package.version}: {record['id']}{also}, local record. {summary}"
    return Finding(NAME, str(record["id"]), severity, message.strip(), "uv.lock", package.line)


def run_pip_audit(options: scanner.Options, packages: Sequence[LockedPackage]) -> Evaluation | str:
    """Audit the pins; the evaluation, or why pip-audit produced no report."""
    pip_audit = find_executable(TOOL, hint=scanner.HINT, env=options.env)
    output = scanner.native_report(options, "pip-audit.json")
    with tempfile.TemporaryDirectory(prefix="audit-") as directory:
        pinned = Path(directory) / "requirements.txt"
        pinned.write_text(requirements(packages))
        audit = command(pip_audit, pinned, output)
        done = check(audit, ok=(0, 1), cwd=options.reports, env=options.env)
    if not output.exists():
        return last_line(done.stderr) or f"pip-audit exited {done.code} without a report"
    return evaluate(scanner.load_json(output, "the pip-audit report"), packages)


def scan(options: scanner.Options) -> scanner.ScanResult:
    """Audit every pin; fail (or, with --allow-offline, skip) when nothing could be audited."""
    packages = locked_packages(options.lock)
    result = scanner.ScanResult(NAME, TOOL, scanner.package_version(TOOL))
    if options.vulnerability_file:
        records = scanner.load_json(options.vulnerability_file, "the vulnerability file")
        result.findings += osv_findings(records, packages)
        result.notes.append(f"checked against local records: {options.vulnerability_file.name}")
    outcome = run_pip_audit(options, packages)
    if isinstance(outcome, Evaluation):
        result.findings += outcome.findings
        reason = unreachable(outcome)
        result.notes.append(f"{outcome.audited} of {len(packages)} pinned packages audited")
        if reason is None and outcome.unaudited:
            names = ", ".join(name for name, _ in outcome.unaudited)
            result.skipped_checks.append(f"could not look up {names}")
    else:
        reason = outcome
    if reason and options.allow_offline:
        result.skip_reason = f"could not audit: {reason} (--allow-offline)"
    elif reason:
        result.failure = f"could not audit: {reason}"
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ops.security.audit [--allow-offline] [--vulnerability-file F] [options]``."""
    return scanner.main(NAME, TOOL, scan, argv)


if __name__ == "__main__":
    sys.exit(main())
