"""The ``bandit`` gate: Python security lint over the code, SARIF out.

Scans every Python file a commit could contain outside tests/ (see
:mod:`ops.security.files`), with the configuration in ``[tool.bandit]`` of
pyproject.toml. Bandit's severity is kept (HIGH fails unless suppressed); its
confidence is added to the message. A file bandit cannot parse is named as a
check that was skipped.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from ops.core.commands import check, find_executable
from ops.project import PYPROJECT
from ops.security import sarif, scanner
from ops.security.files import scan_set
from ops.security.findings import Finding, severity_of

NAME = "bandit"
# Substrings to bandit: anchored at the root so that app/contests.py is still scanned.
EXCLUDE = ("./tests/", "./.venv/", "./.nox/")


def command(bandit: str, output: Path, targets: Sequence[str]) -> list[str]:
    """The bandit invocation: repository config, native SARIF to ``output``."""
    return [
        bandit, "-c", str(PYPROJECT), "-f", "sarif", "-o", str(output), "-q",
        "--exclude", ",".join(EXCLUDE), *targets,
    ]  # fmt: skip


def parse(log: sarif.Json) -> tuple[list[Finding], list[str]]:
    """Findings and unparsable files from bandit's SARIF."""
    findings = []
    for _run, result in sarif.results(log):
        path, line = sarif.location(result)
        properties = result.get("properties", {})
        confidence = str(properties.get("issue_confidence", "")).lower()
        message = f"{result['message']['text']} (confidence: {confidence or 'unknown'})"
        severity = severity_of(str(properties.get("issue_severity", "")))
        findings.append(Finding(NAME, str(result["ruleId"]), severity, message, path, line))
    return findings, _unparsed(log)


def _unparsed(log: sarif.Json) -> list[str]:
    skipped = []
    for run in log.get("runs", []):
        for invocation in run.get("invocations", []):
            for note in invocation.get("toolConfigurationNotifications", []):
                path, _ = sarif.location(note)
                skipped.append(f"{path or 'a file'}: {note['message']['text']}")
    return skipped


def scan(options: scanner.Options) -> scanner.ScanResult:
    """Run bandit over the code under ``options.root``."""
    targets = scan_set(options.root, suffixes=(".py",), code=True)
    if not targets:
        raise scanner.ScanError(f"no Python files to scan under {options.root}")
    native = scanner.native_report(options, "bandit.sarif")
    bandit = find_executable(NAME, hint=scanner.HINT, env=options.env)
    check(command(bandit, native, targets), ok=(0, 1), cwd=options.root, env=options.env)
    findings, unparsed = parse(read_report(native))
    return scanner.ScanResult(
        NAME, NAME, scanner.package_version(NAME), findings, unparsed,
        notes=[f"scanned {len(targets)} Python files"],
    )  # fmt: skip


def read_report(native: Path) -> sarif.Json:
    """The SARIF bandit wrote; ScanError when there is none, or it is not SARIF 2.1.0."""
    try:
        return sarif.read(native)
    except ValueError as error:
        raise scanner.ScanError(f"bandit wrote no usable report: {error}") from None


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ops.security.bandit [options]``."""
    return scanner.main(NAME, NAME, scan, argv)


if __name__ == "__main__":
    sys.exit(main())
