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

from ops.project import PYPROJECT
from ops.security import gate, sarif
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


def scan(options: gate.Options) -> gate.GateResult:
    """Run bandit over the code under ``options.root``."""
    targets = scan_set(options.root, suffixes=(".py",), code=True)
    if not targets:
        raise gate.GateError(f"no Python files to scan under {options.root}")
    native = options.reports / "native" / "bandit.sarif"
    native.parent.mkdir(parents=True, exist_ok=True)
    executable = gate.find_tool("bandit")
    gate.run_tool(command(executable, native, targets), cwd=options.root, ok=(0, 1))
    try:
        log = sarif.read(native)
    except ValueError as error:
        raise gate.GateError(f"bandit wrote no usable report: {error}") from None
    findings, unparsed = parse(log)
    return gate.GateResult(
        NAME,
        NAME,
        gate.package_version("bandit"),
        findings,
        skipped_checks=unparsed,
        notes=[f"scanned {len(targets)} Python files"],
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ops.security.bandit [options]``."""
    return gate.main(NAME, NAME, scan, argv)


if __name__ == "__main__":
    sys.exit(main())
