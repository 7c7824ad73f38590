"""The ``semgrep`` gate: this repository's own rules (security/semgrep/), offline.

The rules target this stack (SQL by string formatting, shell commands, JWTs
without verification, hard-coded credentials, debug and CORS in deployed
settings, unsafe YAML, HTTP calls without timeouts...). They run with
``--metrics=off`` and no registry access; with a network, ``--extra-rules
p/python`` adds a registry ruleset on top. A file semgrep cannot parse is named
as a skipped check; a broken rule stops the gate.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ops.core.commands import check, find_executable
from ops.project import ROOT
from ops.security import scanner
from ops.security.files import CODE_EXCLUDES, FIXTURES, scan_set
from ops.security.findings import Finding, Severity, severity_of

NAME = "semgrep"
RULES = ROOT / "security" / "semgrep"
SEVERITIES = {"ERROR": Severity.HIGH, "WARNING": Severity.MEDIUM, "INFO": Severity.LOW}
OFFLINE = {"SEMGREP_ENABLE_VERSION_CHECK": "0", "SEMGREP_SEND_METRICS": "off"}


def command(
    semgrep: str, targets: Sequence[str], native_sarif: Path, extra: Sequence[str]
) -> list[str]:
    """The semgrep invocation: local rules, no metrics, JSON on stdout, SARIF beside."""
    configs = [arg for config in (str(RULES), *extra) for arg in ("--config", config)]
    excludes = [arg for path in (FIXTURES, *CODE_EXCLUDES) for arg in ("--exclude", path)]
    return [
        semgrep, "scan", *configs, "--metrics=off", "--disable-version-check",
        "--no-rewrite-rule-ids", "--json", f"--sarif-output={native_sarif}", "--quiet",
        "--timeout", "30", *excludes, *targets,
    ]  # fmt: skip


def parse(report: Any) -> tuple[list[Finding], list[str]]:
    """Findings and unscannable files from semgrep's JSON; ScanError on a rule error."""
    if not isinstance(report, dict) or "results" not in report:
        raise scanner.ScanError("semgrep printed no JSON report")
    skipped = []
    for error in report.get("errors", []):
        message = " ".join(str(error.get("message", "")).split())[:300]
        problem = f"{error.get('type', 'error')}: {message}"
        if error.get("level") == "error" and not error.get("path"):
            raise scanner.ScanError(f"semgrep rules could not be used: {problem}")
        skipped.append(f"{error.get('path', 'semgrep')}: {problem}")
    return [_finding(result) for result in report["results"]], skipped


def _finding(result: dict[str, Any]) -> Finding:
    extra = result.get("extra", {})
    rule = str(result["check_id"]).rsplit(".", 1)[-1]
    label = str(extra.get("metadata", {}).get("severity", ""))
    severity = severity_of(label, SEVERITIES.get(str(extra.get("severity")), Severity.MEDIUM))
    message = " ".join(str(extra.get("message", rule)).split())
    return Finding(NAME, rule, severity, message, str(result["path"]), result["start"]["line"])


def scan(options: scanner.Options) -> scanner.ScanResult:
    """Run the rules over the code and the deployed settings under ``options.root``."""
    targets = scan_set(options.root, code=True)
    if not targets:
        raise scanner.ScanError(f"no files to scan under {options.root}")
    native = scanner.native_report(options, "semgrep.sarif")
    extra = list(options.extra_rules)
    semgrep = find_executable(NAME, hint=scanner.HINT, env=options.env)
    done = check(
        command(semgrep, targets, native, extra),
        ok=range(256),  # findings exit 1, broken rules 2 or 7: the JSON report says which
        cwd=options.root,
        env={**options.env, **OFFLINE},
    )
    findings, skipped = parse(scanner.json_output(done, NAME))
    rules = "local rules" + (f" + {', '.join(extra)}" if extra else "")
    version = scanner.package_version(NAME)
    notes = [f"scanned {len(targets)} files with {rules}"]
    return scanner.ScanResult(NAME, NAME, version, findings, skipped, notes=notes)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ops.security.semgrep [options]``."""
    return scanner.main(NAME, NAME, scan, argv)


if __name__ == "__main__":
    sys.exit(main())
