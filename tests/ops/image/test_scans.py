"""The scanner gates' own logic: the SBOM's Python packages of the app's environment,
compared with the lock's runtime closure for the image's Python; its marker environment."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ops.core.commands import CommandFailed
from ops.image import scans
from ops.security import sbom, trivy
from ops.security.dependencies import runtime_closure
from ops.security.findings import Finding, Severity
from ops.security.scanner import ScanError
from tests.ops.image.fakes import FakeEngine, built, fake_trivy

LOCK = """\
version = 1
requires-python = ">=3.11"

[[package]]
name = "trading-platform"
version = "0.1.0"
source = { editable = "." }
dependencies = [
    { name = "fastapi" },
    { name = "exceptiongroup", marker = "python_full_version < '3.11.3'" },
]

[[package]]
name = "fastapi"
version = "0.115.0"
source = { registry = "https://pypi.org/simple" }
dependencies = [{ name = "starlette" }]

[[package]]
name = "starlette"
version = "0.38.6"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "exceptiongroup"
version = "1.2.2"
source = { registry = "https://pypi.org/simple" }
"""
IMAGE_PYTHON = {"python_full_version": "3.11.2", "python_version": "3.11"}


def component(name: str, version: str, path: str, purl: str = "") -> dict[str, Any]:
    """A CycloneDX component as trivy describes a package it found at ``path``."""
    return {
        "name": name,
        "version": version,
        "purl": purl or f"pkg:pypi/{name.lower()}@{version}",
        "properties": [
            {"name": "aquasecurity:trivy:PkgType", "value": "python-pkg"},
            {"name": scans.FILE_PATH, "value": path},
        ],
    }


def document(*components: dict[str, Any]) -> dict[str, Any]:
    """A CycloneDX SBOM of ``components``."""
    return {"bomFormat": "CycloneDX", "specVersion": "1.6", "components": list(components)}


def venv(name: str, version: str) -> dict[str, Any]:
    """A package installed in the app's environment."""
    site = "opt/venv/lib/python3.11/site-packages"
    return component(name, version, f"{site}/{name}-{version}.dist-info/METADATA")


def test_only_pypi_packages_of_the_apps_environment_are_its_packages() -> None:
    found = scans.python_packages(
        document(
            venv("FastAPI", "0.115.0"),
            venv("starlette", "0.38.6"),
            component(
                "pip", "23.0.1", "usr/lib/python3/dist-packages/pip-23.0.1.dist-info/METADATA"
            ),
            component("python3.11", "3.11.2-6", "var/lib/dpkg/status", "pkg:deb/debian/python3.11"),
            {"name": "starlette-twin", "version": "1", "purl": "pkg:pypi/starlette-twin@1"},
        )
    )
    assert found == {"fastapi": "0.115.0", "starlette": "0.38.6"}


@pytest.mark.parametrize("bad", [{"bomFormat": "SPDX"}, [], "text"])
def test_a_document_that_is_not_cyclonedx_cannot_be_read(bad: object) -> None:
    with pytest.raises(ScanError, match=r"^the image SBOM is not a CycloneDX document$"):
        scans.python_packages(bad)


def findings_for(tmp_path: Path, *installed: dict[str, Any]) -> list[Finding]:
    """The SBOM gate's findings for an image holding ``installed``, on Python 3.11.2."""
    lock = tmp_path / "uv.lock"
    lock.write_text(LOCK)
    locked = runtime_closure(lock, "trading-platform", IMAGE_PYTHON)
    return sbom.compare(scans.python_packages(document(*installed)), locked, LOCK)


def test_an_image_shipping_exactly_the_lock_passes(tmp_path: Path) -> None:
    shipped = [
        venv("fastapi", "0.115.0"),
        venv("starlette", "0.38.6"),
        venv("exceptiongroup", "1.2.2"),
    ]
    assert findings_for(tmp_path, *shipped) == []


def test_a_missing_another_or_an_unlocked_package_is_named(tmp_path: Path) -> None:
    shipped = [venv("fastapi", "0.116.1"), venv("starlette", "0.38.6"), venv("requests", "2.32.3")]
    found = [(f.rule_id, f.message, f.location) for f in findings_for(tmp_path, *shipped)]
    assert found == [
        (
            "sbom-missing-package",
            "exceptiongroup 1.2.2 is a locked runtime dependency missing from the SBOM",
            "uv.lock:25",
        ),
        (
            "sbom-version-mismatch",
            "fastapi: the SBOM has 0.116.1, uv.lock pins 0.115.0",
            "uv.lock:14",
        ),
        (
            "sbom-unlocked-package",
            "requests 2.32.3 is in the SBOM but not a locked runtime dependency",
            "uv.lock:1",
        ),
    ]


def test_an_image_finding_keeps_its_place_or_points_at_the_dockerfile() -> None:
    locked = Finding("sbom", "sbom-missing-package", Severity.HIGH, "x", "uv.lock", 4)
    assert scans._as_image(locked) == Finding(
        "image", "sbom-missing-package", Severity.HIGH, "x", "uv.lock", 4
    )
    nowhere = Finding("trivy", "DS-0002", Severity.HIGH, "root")
    assert scans._as_image(nowhere).location == "deploy/Dockerfile"


def test_the_marker_environment_is_what_the_images_python_prints() -> None:
    engine = FakeEngine(run_output=json.dumps({"python_full_version": "3.11.2", "n": 1}))
    assert scans.marker_environment(engine, "trading-api:test") == {
        "python_full_version": "3.11.2",
        "n": "1",
    }
    [call] = engine.calls
    assert call[:2] == ("run", "--rm")
    assert call[4:10] == ("--network", "none", "--entrypoint", "python", "trading-api:test", "-c")


def test_an_image_whose_python_prints_no_markers_cannot_be_checked() -> None:
    with pytest.raises(ScanError, match="printed no marker environment: 'Traceback"):
        scans.marker_environment(FakeEngine(run_output="Traceback ..."), "trading-api:test")
    with pytest.raises(CommandFailed, match=r"^docker run failed \(exit 125\): boom$"):
        scans.marker_environment(FakeEngine(run_code=125), "trading-api:test")


TRIVY_REPORT = {
    "Results": [
        {
            "Target": "opt/app/settings.env",
            "Secrets": [
                {
                    "RuleID": "aws-access-key-id",
                    "Title": "AWS Access Key ID",
                    "Severity": "CRITICAL",
                    "StartLine": 1,
                    "Match": "AKIA****",
                }
            ],
        },
        {
            "Target": "Dockerfile",
            "Misconfigurations": [
                {
                    "ID": "DS-0002",
                    "Severity": "HIGH",
                    "Status": "FAIL",
                    "Title": "Image user should not be 'root'",
                }
            ],
        },
    ]
}


def test_the_trivy_gate_fails_on_a_baked_in_secret_at_the_dockerfile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scans, "_trivy", lambda env: str(fake_trivy(tmp_path, TRIVY_REPORT)))
    monkeypatch.setattr(trivy, "vulnerability_db", lambda *_: "no such host")
    outcome = scans.trivy_scan(tmp_path / "image.tar", tmp_path / "native", {"PATH": "/bin"})
    assert outcome.status == "failed"
    assert [(f.gate, f.rule_id, f.path) for f in outcome.findings] == [
        ("image", "aws-access-key-id", "deploy/Dockerfile"),
        ("image", "DS-0002", "deploy/Dockerfile"),
    ]
    assert "AKIA" not in outcome.findings[0].message
    assert outcome.skipped == (
        "image vulnerabilities: trivy's database not downloadable (no such host)"
    )
    assert outcome.notes == ["secrets, misconfigurations: 2 finding(s)"]


def test_the_sbom_gate_compares_the_images_packages_with_the_lock_for_its_python(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shipped = document(venv("fastapi", "0.115.0"), venv("starlette", "0.38.6"))
    monkeypatch.setattr(scans, "_trivy", lambda env: str(fake_trivy(tmp_path, shipped)))
    lock = tmp_path / "uv.lock"
    lock.write_text(LOCK)
    engine = FakeEngine(run_output=json.dumps(IMAGE_PYTHON))
    reports = tmp_path / "security"
    outcome = scans.sbom_check(engine, built(), tmp_path / "image.tar", reports, {}, lock)
    [finding] = outcome.findings
    assert (finding.gate, finding.rule_id, finding.location) == (
        "image",
        "sbom-missing-package",
        "uv.lock:25",
    )
    assert finding.message.startswith("exceptiongroup 1.2.2 is a locked runtime dependency")
    assert json.loads((reports / "image.cdx.json").read_text()) == shipped
    assert outcome.figures["python"] == "3.11.2"
    assert outcome.notes == [
        "wrote image.cdx.json: 2 components, 2 Python packages in /opt/venv (3 locked)"
    ]
