"""The ``sbom`` gate: a CycloneDX JSON SBOM of the locked runtime environment.

The environment is built exactly as the image installs it (``uv sync --locked
--no-default-groups``, in a temporary directory), or given with ``--python``.
``cyclonedx-py environment`` describes it in ``reports/security/sbom.cdx.json``;
the gate then checks the SBOM against uv.lock and fails, naming the package,
when a runtime pin is missing, has another version, or something unlocked is in
it: an SBOM that does not match the lock does not describe what ships.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ops.core.commands import check, find_executable
from ops.project import PYPROJECT, normalize, pyproject
from ops.security import scanner
from ops.security.dependencies import line_of, runtime_closure, runtime_python
from ops.security.findings import Finding, Severity

NAME = "sbom"
TOOL = "cyclonedx-py"
# Installers a plain virtualenv may carry; never part of the image.
INSTALLERS = frozenset({"pip", "setuptools", "wheel"})


def command(cyclonedx: str, python: str, output: Path) -> list[str]:
    """``cyclonedx-py environment`` of ``python``, validated, reproducible, to ``output``."""
    return [
        cyclonedx, "environment", "--output-format", "JSON", "--output-file", str(output),
        "--pyproject", str(PYPROJECT), "--mc-type", "application", "--output-reproducible",
        "--validate", python,
    ]  # fmt: skip


def components(sbom: Any) -> dict[str, str]:
    """Normalized name to version of every component of a CycloneDX document."""
    if not isinstance(sbom, dict) or sbom.get("bomFormat") != "CycloneDX":
        raise scanner.ScanError("the SBOM is not a CycloneDX document")
    return {
        normalize(str(item["name"])): str(item.get("version", ""))
        for item in sbom.get("components", [])
    }


def compare(
    described: Mapping[str, str], locked: Mapping[str, str], lock_text: str
) -> list[Finding]:
    """Findings for every difference between the SBOM's components and the locked closure."""
    findings = []
    for name, version in sorted(locked.items()):
        line = line_of(lock_text, name)
        if name not in described:
            message = f"{name} {version} is a locked runtime dependency missing from the SBOM"
            findings.append(
                Finding(NAME, "sbom-missing-package", Severity.HIGH, message, "uv.lock", line)
            )
        elif described[name] != version:
            message = f"{name}: the SBOM has {described[name]}, uv.lock pins {version}"
            findings.append(
                Finding(NAME, "sbom-version-mismatch", Severity.HIGH, message, "uv.lock", line)
            )
    for name in sorted(set(described) - set(locked) - INSTALLERS):
        message = f"{name} {described[name]} is in the SBOM but not a locked runtime dependency"
        findings.append(
            Finding(NAME, "sbom-unlocked-package", Severity.HIGH, message, "uv.lock", 1)
        )
    return findings


def scan(options: scanner.Options) -> scanner.ScanResult:
    """Write the SBOM and compare it with the lock."""
    output = options.reports / "sbom.cdx.json"
    output.unlink(missing_ok=True)
    cyclonedx = find_executable(TOOL, hint=scanner.HINT, env=options.env)
    with runtime_python(options) as python:
        check(command(cyclonedx, python, output), cwd=options.root, env=options.env)
    described = components(scanner.load_json(output, "the SBOM"))
    project = str(pyproject(PYPROJECT)["project"]["name"])
    locked = runtime_closure(options.lock, project)
    findings = compare(described, locked, options.lock.read_text(encoding="utf-8"))
    notes = [f"wrote {output.name}: {len(described)} components ({len(locked)} locked)"]
    version = scanner.package_version("cyclonedx-bom")
    return scanner.ScanResult(NAME, TOOL, version, findings, notes=notes)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ops.security.sbom [--python PY] [--uv UV] [options]``."""
    return scanner.main(NAME, TOOL, scan, argv)


if __name__ == "__main__":
    sys.exit(main())
