"""The scanner gates of the image: ``trivy image`` on the saved image (secrets and
misconfigurations in its files and config; vulnerabilities when trivy's database can
be had, else named as skipped), and its CycloneDX SBOM checked against ``uv.lock``.

The SBOM's Python packages installed in the app's environment (``/opt/venv``) must be
exactly the locked runtime closure: a package missing, at another version, or not in
the lock means the image does not ship what was reviewed.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ops.core.commands import check, find_executable
from ops.image.build import BuiltImage
from ops.image.container import one_off
from ops.image.engine import Engine
from ops.image.outcome import GATE, LOCATION, Outcome
from ops.project import LOCKFILE, PYPROJECT, ROOT, normalize, pyproject
from ops.security import sbom, scanner, trivy
from ops.security.dependencies import runtime_closure
from ops.security.findings import Finding

VENV = "opt/venv/"
FILE_PATH = "aquasecurity:trivy:FilePath"
# The image's PEP 508 marker environment, printed by its own interpreter (the lock's
# markers are judged for the Python that ships, not the one running the check).
MARKERS = """
import json, os, platform, sys
v = sys.implementation.version
level = "" if v.releaselevel == "final" else v.releaselevel[0] + str(v.serial)
print(json.dumps({
    "implementation_name": sys.implementation.name,
    "implementation_version": f"{v.major}.{v.minor}.{v.micro}{level}",
    "os_name": os.name, "platform_machine": platform.machine(),
    "platform_python_implementation": platform.python_implementation(),
    "platform_release": platform.release(), "platform_system": platform.system(),
    "platform_version": platform.version(), "python_full_version": platform.python_version(),
    "python_version": ".".join(platform.python_version_tuple()[:2]), "sys_platform": sys.platform,
}))
"""


def _trivy(env: Mapping[str, str]) -> str:
    return find_executable(trivy.NAME, hint=scanner.HINT, env=env)


def _as_image(finding: Finding, location: str = LOCATION) -> Finding:
    return dataclasses.replace(finding, gate=GATE, path=finding.path or location)


def trivy_scan(saved: Path, reports: Path, env: Mapping[str, str]) -> Outcome:
    """``trivy image --input`` of the saved image."""
    outcome = Outcome("trivy")
    executable = _trivy(env)
    trivy.CACHE.mkdir(exist_ok=True)
    db_problem = trivy.vulnerability_db(executable, ROOT, env)
    if db_problem:
        outcome.skipped = f"image vulnerabilities: trivy's database not downloadable ({db_problem})"
    reports.mkdir(parents=True, exist_ok=True)
    output = reports / "trivy-image.json"
    command = trivy.image_command(executable, str(saved), output, vulnerabilities=not db_problem)
    check(command, cwd=ROOT, env=env)
    findings = trivy.parse(scanner.load_json(output, "trivy image report"), LOCATION)
    outcome.findings += [_as_image(finding) for finding in findings]
    outcome.figures["trivy_findings"] = len(findings)
    scanners = "secrets, misconfigurations" + ("" if db_problem else ", vulnerabilities")
    outcome.notes.append(f"{scanners}: {len(findings)} finding(s)")
    return outcome


def python_packages(document: Any) -> dict[str, str]:
    """Name to version of the SBOM's PyPI packages installed in the app's environment."""
    if not isinstance(document, dict) or document.get("bomFormat") != "CycloneDX":
        raise scanner.ScanError("the image SBOM is not a CycloneDX document")
    found = {}
    for item in document.get("components") or []:
        paths = [
            p.get("value", "") for p in item.get("properties") or [] if p.get("name") == FILE_PATH
        ]
        if str(item.get("purl", "")).startswith("pkg:pypi/") and any(
            str(path).startswith(VENV) for path in paths
        ):
            found[normalize(str(item["name"]))] = str(item.get("version", ""))
    return found


def marker_environment(engine: Engine, image: str) -> dict[str, str]:
    """The marker environment of the image's Python."""
    done = one_off(
        engine,
        image,
        settings={},
        options=("--network", "none", "--entrypoint", "python"),
        command=("-c", MARKERS),
        timeout=120,
    ).checked(words=2)
    try:
        found = json.loads(done.stdout)
    except ValueError:
        raise scanner.ScanError(
            f"the image's Python printed no marker environment: {done.stdout[:100]!r}"
        ) from None
    return {str(key): str(value) for key, value in found.items()}


def sbom_check(
    engine: Engine,
    built: BuiltImage,
    saved: Path,
    reports: Path,
    env: Mapping[str, str],
    lock: Path = LOCKFILE,
) -> Outcome:
    """The image's CycloneDX SBOM (``image.cdx.json``), compared with the lock."""
    outcome = Outcome("sbom")
    reports.mkdir(parents=True, exist_ok=True)
    output = reports / "image.cdx.json"
    output.unlink(missing_ok=True)
    check(trivy.sbom_command(_trivy(env), saved, output), cwd=ROOT, env=env)
    document = scanner.load_json(output, "the image SBOM")
    described = python_packages(document)
    project = str(pyproject(PYPROJECT)["project"]["name"])
    markers = marker_environment(engine, built.tag)
    locked = runtime_closure(lock, project, markers)
    findings = sbom.compare(described, locked, lock.read_text(encoding="utf-8"))
    outcome.findings += [_as_image(finding) for finding in findings]
    components = len(document.get("components") or [])
    outcome.notes.append(
        f"wrote {output.name}: {components} components, {len(described)} "
        f"Python packages in /{VENV.rstrip('/')} ({len(locked)} locked)"
    )
    outcome.figures.update(
        sbom=str(output),
        components=components,
        python_packages=len(described),
        python=markers["python_full_version"],
    )
    return outcome
