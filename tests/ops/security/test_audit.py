"""pip-audit: a vulnerable pin fails offline; an audit that did not happen never passes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ops.core.commands import Completed
from ops.core.exits import CHECK_FAILED, INCONCLUSIVE
from ops.security import audit
from ops.security.dependencies import LockedPackage, locked_packages
from ops.security.findings import Severity
from ops.security.scanner import ScanError
from tests.ops.security.conftest import FIXTURES, RunGate, failing, options, require_tool

LOCK = FIXTURES / "audit" / "uv.lock"
RECORDS = FIXTURES / "audit" / "vulnerabilities.json"
PYYAML = LockedPackage("pyyaml", "5.3.1", True, 6)
OFFLINE = {
    "dependencies": [
        {"name": "pyyaml", "skip_reason": "Dependency not found on PyPI and could not be audited"}
    ],
    "fixes": [],
}


@pytest.fixture
def unreachable_service(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every HTTPS request goes to a proxy that refuses connections."""
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")


def test_a_vulnerable_pin_fails_without_a_network(
    run_gate: RunGate, unreachable_service: None
) -> None:
    argv = ["--lock", str(LOCK), "--vulnerability-file", str(RECORDS), "--allow-offline"]
    err = failing(run_gate, "pip-audit", audit.main, *argv)
    assert "critical GHSA-8q59-q68h-6hv4 at uv.lock:6: pyyaml 5.3.1: GHSA-8q59-q68h-6hv4" in err
    assert "CVE-2020-14343" in err


def test_no_network_is_never_success(
    reports: Path, run_gate: RunGate, unreachable_service: None
) -> None:
    require_tool("pip-audit")
    ran = run_gate(audit.main, "--lock", str(LOCK))
    assert ran.code == CHECK_FAILED
    assert "audit: FAILED - could not audit: " in ran.err
    assert "proxy" in ran.err.lower()
    status = json.loads((reports / "audit.status.json").read_text())
    assert status["status"] == "failed"
    assert status["reason"].startswith("could not audit: ")


def test_allow_offline_records_the_skip_as_inconclusive(
    reports: Path, run_gate: RunGate, unreachable_service: None
) -> None:
    require_tool("pip-audit")
    ran = run_gate(audit.main, "--lock", str(LOCK), "--allow-offline")
    assert ran.code == INCONCLUSIVE
    assert "audit: skipped - could not audit: " in ran.out
    status = json.loads((reports / "audit.status.json").read_text())
    assert status["status"] == "skipped"
    assert status["reason"].endswith("(--allow-offline)")


def test_packages_reported_not_found_mean_nothing_was_audited() -> None:
    # What pip-audit prints here: every package "not found", "No known vulnerabilities", exit 0.
    evaluation = audit.evaluate(OFFLINE, [PYYAML])
    reason = audit.unreachable(evaluation)
    assert reason is not None
    assert reason.startswith("vulnerability service unreachable: 1 of 1 packages could not")


def test_scan_turns_a_silent_offline_report_into_a_failure(
    reports: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audit, "run_pip_audit", lambda *_: audit.evaluate(OFFLINE, [PYYAML]))
    result = audit.scan(options(lock=LOCK, reports=reports))
    assert result.failure.startswith("could not audit: vulnerability service unreachable")


def test_pip_audit_results_become_findings() -> None:
    report = {
        "dependencies": [
            {
                "name": "pyyaml",
                "version": "5.3.1",
                "vulns": [
                    {
                        "id": "PYSEC-2021-142",
                        "fix_versions": ["5.4"],
                        "aliases": ["CVE-2020-14343"],
                        "description": "Arbitrary code execution in full_load.",
                    }
                ],
            },
            {"name": "idna", "version": "3.10", "vulns": []},
            {"name": "localpkg", "skip_reason": "not on PyPI"},
        ]
    }
    packages = [PYYAML, LockedPackage("idna", "3.10", True, 9)]
    evaluation = audit.evaluate(report, packages)
    [finding] = evaluation.findings
    assert finding.rule_id == "PYSEC-2021-142"
    assert finding.severity is Severity.HIGH
    assert finding.location == "uv.lock:6"
    assert finding.message.startswith("pyyaml 5.3.1: PYSEC-2021-142 (CVE-2020-14343), fixed in 5.4")
    assert audit.unreachable(evaluation) is None  # one of three could not be looked up
    with pytest.raises(ScanError, match="no dependencies list"):
        audit.evaluate({}, packages)


def test_partly_unaudited_packages_are_named_and_inconclusive(
    reports: Path, monkeypatch: pytest.MonkeyPatch, run_gate: RunGate
) -> None:
    partial = audit.Evaluation([], [("localpkg", "not on PyPI")], audited=5)
    monkeypatch.setattr(audit, "run_pip_audit", lambda *_: partial)
    result = audit.scan(options(lock=LOCK, reports=reports))
    assert result.failure == ""
    assert result.skipped_checks == ["could not look up localpkg"]
    ran = run_gate(audit.main, "--lock", str(LOCK))
    assert ran.code == INCONCLUSIVE
    assert "  skipped: could not look up localpkg" in ran.out


@pytest.mark.parametrize(
    ("events", "version", "affected"),
    [
        ([{"introduced": "0"}, {"fixed": "5.4"}], "5.3.1", True),
        ([{"introduced": "0"}, {"fixed": "5.4"}], "5.4", False),
        ([{"introduced": "2.0"}, {"last_affected": "2.3"}], "2.3", True),
        ([{"introduced": "2.0"}, {"last_affected": "2.3"}], "2.4", False),
        ([{"introduced": "2.0"}], "1.9", False),
        ([{"introduced": "0"}], "not-a-version", False),
    ],
)
def test_osv_ranges(events: list[dict[str, str]], version: str, affected: bool) -> None:
    record = {
        "id": "OSV-1",
        "affected": [{"package": {"name": "PyYAML"}, "ranges": [{"events": events}]}],
    }
    package = LockedPackage("pyyaml", version, True, 1)
    assert bool(audit.osv_findings([record], [package])) is affected


def test_osv_records_by_version_list_and_other_ecosystems() -> None:
    listed = {"id": "X-1", "affected": [{"package": {"name": "pyyaml"}, "versions": ["5.3.1"]}]}
    npm = {"id": "X-2", "affected": [{"package": {"ecosystem": "npm", "name": "pyyaml"}}]}
    [finding] = audit.osv_findings({"vulns": [listed, npm]}, [PYYAML])
    assert finding.rule_id == "X-1"
    assert finding.severity is Severity.HIGH
    with pytest.raises(ScanError, match="OSV records"):
        audit.osv_findings("nonsense", [PYYAML])


def test_the_lock_is_read_as_pins(tmp_path: Path) -> None:
    [package] = locked_packages(LOCK)
    assert package == PYYAML
    assert audit.requirements([package, LockedPackage("git-dep", "1", False, 1)]) == (
        "pyyaml==5.3.1\n"
    )
    broken = tmp_path / "uv.lock"
    broken.write_text("[[package]\n")
    with pytest.raises(ScanError, match=r"uv\.lock is not a readable lock file"):
        locked_packages(broken)
    with pytest.raises(ScanError, match="lock file missing"):
        locked_packages(tmp_path / "absent.lock")


def test_a_pip_audit_crash_without_report_is_the_reason(
    reports: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    crashed = Completed(("pip-audit",), 1, "", "ConnectionError: no route")
    monkeypatch.setattr(audit, "find_executable", lambda name, **_: name)
    monkeypatch.setattr(audit, "check", lambda *_, **__: crashed)
    assert audit.run_pip_audit(options(reports=reports), [PYYAML]) == "ConnectionError: no route"
