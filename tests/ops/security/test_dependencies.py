"""The SBOM and the licence allowlist: each fails on a planted dependency.

The licences of the locked runtime pass here; the SBOM of it (a slow tool) is shown to
match the lock by `nox -s sbom`, which CI runs.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ops.core.exits import CANNOT_RUN, DONE
from ops.project import LOCKFILE
from ops.security import licenses, sbom
from ops.security.dependencies import line_of, runtime_closure
from ops.security.findings import Severity
from ops.security.scanner import ScanError
from tests.ops.security.conftest import FIXTURES, RunGate, failing, require_tool

ALLOWED = frozenset({"mit", "apache-2.0", "bsd-3-clause", "bsd license", "psf-2.0"})


@pytest.fixture
def planted_environment(tmp_path: Path) -> str:
    """A virtualenv holding only two fixture distributions: GPL-licensed and unlicensed."""
    venv = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    [site] = venv.glob("lib/python3*/site-packages")
    for dist in (FIXTURES / "licenses").iterdir():
        shutil.copytree(dist, site / dist.name)
    return str(venv / "bin" / "python")


@pytest.fixture
def uv() -> str:
    """uv, to build the locked runtime environment."""
    found = shutil.which("uv")
    if found is None:
        pytest.skip("uv is not on PATH")
    return found


def test_a_disallowed_or_unknown_licence_fails_and_names_the_package(
    planted_environment: str, reports: Path, run_gate: RunGate
) -> None:
    err = failing(run_gate, "pip-licenses", licenses.main, "--python", planted_environment)
    assert "license-not-allowed at uv.lock:1: copyleft-widget 1.0 is licensed GPL-3.0-only" in err
    assert "license-unknown at uv.lock:1: mystery-box 0.1 declares no licence" in err
    inventory = json.loads((reports / "licenses.json").read_text())
    assert {package["Name"] for package in inventory} == {"copyleft-widget", "mystery-box"}


def test_the_locked_runtime_licences_are_allowed(uv: str, run_gate: RunGate) -> None:
    require_tool("pip-licenses")
    assert run_gate(licenses.main, "--uv", uv).code == DONE


@pytest.mark.parametrize(
    ("statement", "verdict"),
    [
        ("MIT License", True),
        ("Apache Software License; MIT License", True),
        ("MIT AND PSF-2.0", True),
        ("Apache-2.0 OR GPL-3.0-only", True),
        ("(MIT OR GPL-2.0-only) AND BSD-3-Clause", True),
        ("MIT AND GPL-3.0-only", False),
        ("GNU General Public License v3 (GPLv3)", False),
        ("Apache-2.0 WITH LLVM-exception", True),
        ("UNKNOWN", None),
        ("", None),
    ],
)
def test_licence_statements(statement: str, verdict: bool | None) -> None:
    assert licenses.permitted(statement, ALLOWED) is verdict


def test_the_policy_and_its_exceptions() -> None:
    rules = licenses.policy(
        {"tool": {"trading": {"licenses": {"allowed": ["MIT"], "exceptions": {"Odd_Pkg": "ok"}}}}}
    )
    packages = [
        {"Name": "odd-pkg", "Version": "1", "License": "GPL-3.0-only"},
        {"Name": "fine", "Version": "2", "License": "MIT"},
        {"Name": "bad", "Version": "3", "License": "AGPL-3.0-only"},
    ]
    [finding] = licenses.judge(packages, rules, 'name = "bad"\n')
    assert finding.severity is Severity.HIGH
    assert finding.message.startswith("bad 3 is licensed")
    with pytest.raises(ScanError, match=r"no \[tool.trading.licenses\]"):
        licenses.policy({})
    with pytest.raises(ScanError, match="every entry needs a reason"):
        licenses.policy(
            {"tool": {"trading": {"licenses": {"allowed": [], "exceptions": {"x": ""}}}}}
        )


def test_the_repository_policy_is_configured() -> None:
    from ops.project import pyproject

    rules = licenses.policy(pyproject())
    assert "mit" in rules.allowed
    assert not any("gpl" in name for name in rules.allowed)


def test_an_sbom_that_does_not_match_the_lock_fails(
    planted_environment: str, reports: Path, run_gate: RunGate
) -> None:
    err = failing(run_gate, "cyclonedx-py", sbom.main, "--python", planted_environment)
    assert "sbom-missing-package" in err
    assert "fastapi" in err
    assert "copyleft-widget 1.0 is in the SBOM but not a locked runtime dependency" in err
    document = json.loads((reports / "sbom.cdx.json").read_text())
    assert document["bomFormat"] == "CycloneDX"
    assert document["specVersion"] == "1.6"


def test_sbom_comparison() -> None:
    text = 'name = "a"\nname = "b"\n'
    findings = sbom.compare({"a": "1", "c": "3", "pip": "24"}, {"a": "2", "b": "1"}, text)
    assert [(f.rule_id, f.line) for f in findings] == [
        ("sbom-version-mismatch", 1),
        ("sbom-missing-package", 2),
        ("sbom-unlocked-package", 1),
    ]
    with pytest.raises(ScanError, match="not a CycloneDX document"):
        sbom.components({"bomFormat": "SPDX"})


def test_the_runtime_closure_follows_extras_and_markers(tmp_path: Path) -> None:
    closure = runtime_closure(LOCKFILE, "trading-platform")
    assert {"fastapi", "uvicorn", "uvloop", "argon2-cffi", "greenlet"} <= set(closure)
    assert "pytest" not in closure
    assert "colorama" not in closure
    assert line_of(LOCKFILE.read_text(), "fastapi") > 1
    with pytest.raises(ScanError, match="no entry for the project"):
        runtime_closure(LOCKFILE, "another-project")
    broken = tmp_path / "uv.lock"
    broken.write_text(
        '[[package]]\nname = "p"\nversion = "1"\nsource = { virtual = "." }\n'
        'dependencies = [{ name = "q", marker = "python_version >>> 3" }]\n'
        '[[package]]\nname = "q"\nversion = "1"\n'
    )
    with pytest.raises(ScanError, match="invalid marker"):
        runtime_closure(broken, "p")


def test_a_uv_that_is_missing_or_fails_cannot_run(tmp_path: Path, run_gate: RunGate) -> None:
    require_tool("cyclonedx-py")
    ran = run_gate(sbom.main, "--uv", str(tmp_path / "nowhere" / "uv"))
    assert ran.code == CANNOT_RUN
    assert ran.err == "sbom: uv: command not found\n"
    failing = tmp_path / "uv"
    failing.write_text("#!/bin/sh\necho 'error: no network' >&2\nexit 2\n")
    failing.chmod(0o755)
    ran = run_gate(sbom.main, "--uv", str(failing))
    assert ran.code == CANNOT_RUN
    assert ran.err.startswith("sbom: uv sync --locked failed (exit 2): no network")


def test_the_runtime_closure_judges_markers_for_the_given_python(tmp_path: Path) -> None:
    lock = tmp_path / "uv.lock"
    lock.write_text(
        '[[package]]\nname = "p"\nversion = "1"\nsource = { editable = "." }\n'
        'dependencies = [{ name = "q" }, { name = "old-fix", marker = '
        "\"python_full_version < '3.11.3'\" }]\n"
        '[[package]]\nname = "q"\nversion = "2"\n'
        '[[package]]\nname = "old-fix"\nversion = "3"\n'
    )
    old = {"python_full_version": "3.11.2", "python_version": "3.11"}
    new = {"python_full_version": "3.11.7", "python_version": "3.11"}
    assert runtime_closure(lock, "p", old) == {"q": "2", "old-fix": "3"}
    assert runtime_closure(lock, "p", new) == {"q": "2"}
