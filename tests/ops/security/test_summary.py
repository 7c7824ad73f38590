"""The summary: one merged SARIF file, a table, the score, and the gate over all of them."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from ops.core.exits import CANNOT_RUN, CHECK_FAILED, DONE, INCONCLUSIVE
from ops.security import GATES, sarif, scanner, summary
from ops.security.findings import Finding, Severity
from ops.security.scanner import ScanResult
from ops.security.suppressions import assess, load
from tests.ops.security.conftest import RunGate

HIGH = Finding("semgrep", "subprocess-shell", Severity.HIGH, "shell", "app/x.py", 3)
MEDIUM = Finding("bandit", "B608", Severity.MEDIUM, "sql-ish", "ops/y.py", 9)


def record(reports: Path, result: ScanResult, suppressions: Path | None = None) -> None:
    """What a gate run leaves behind."""
    today = scanner.utc_today()
    entries = load(suppressions, today) if suppressions else []
    verdict = scanner.decide(result, assess(result.findings, entries, today), [])
    scanner.write_reports(result, verdict, reports)


def passing_gates(reports: Path) -> None:
    for name in GATES:
        record(reports, ScanResult(name, name, "1.0"))


def accept(tmp_path: Path, rule: str, path: str, expires: str) -> Path:
    listed = tmp_path / "suppressions.toml"
    listed.write_text(
        "[[suppression]]\n"
        f'tool = "bandit"\nrule = "{rule}"\npath = "{path}"\n'
        'reason = "identifiers only, each quoted"\n'
        f'expires = {expires}\nreviewed_by = "me"\n'
    )
    return listed


def test_all_gates_passing_scores_100(reports: Path, run_gate: RunGate) -> None:
    passing_gates(reports)
    ran = run_gate(summary.main, "--suppressions", str(reports / "none"))
    assert ran.code == DONE
    assert ran.out.splitlines()[0].split() == [
        "gate", "tool", "status", "critical", "high", "medium", "low", "info", "suppressed",
    ]  # fmt: skip
    assert ran.out.strip().endswith("security: passed - score 100/100")
    merged = json.loads((reports / summary.MERGED).read_text())
    assert sarif.validate(merged) == []
    assert [run["properties"]["gate"] for run in merged["runs"]] == list(GATES)
    assert json.loads((reports / "summary.json").read_text())["verdict"] == "passed"


def test_a_blocking_finding_fails_and_a_gate_not_run_is_named(
    reports: Path, run_gate: RunGate, tmp_path: Path
) -> None:
    record(reports, ScanResult("semgrep", "semgrep", findings=[HIGH]))
    record(reports, ScanResult("bandit", "bandit", findings=[MEDIUM]))
    record(reports, ScanResult("trivy", "trivy", skipped_checks=["vulnerability scan: no DB"]))
    skipped = "could not audit: offline (--allow-offline)"
    record(reports, ScanResult("audit", "pip-audit", skip_reason=skipped))
    ran = run_gate(summary.main, "--suppressions", str(tmp_path / "none.toml"))
    assert ran.code == CHECK_FAILED
    assert "failed: semgrep: 1 unsuppressed high/critical finding(s)" in ran.err
    assert f"skipped: audit: {skipped}" in ran.err
    assert "skipped: sbom: not run" in ran.err
    assert "skipped check: trivy: vulnerability scan: no DB" in ran.err
    # 10 (high) + 3 (medium) + 10 x 5 gates not checked (audit, sbom, licenses, api-security,
    # image) + 5 for trivy's skipped check + 10 for secrets, which did not run either.
    assert "security: FAILED - score 22/100" in ran.err
    data = json.loads((reports / "summary.json").read_text())
    assert data["score"] == 22
    assert data["failed"] is True
    assert data["verdict"] == "failed"
    reported = summary.read_reported(reports / "summary.json")  # as the PR feedback reads it
    assert (reported.score, reported.verdict) == (22, "failed")
    assert reported.notes[0].startswith("failed: semgrep: 1 unsuppressed high/critical")
    assert "skipped check: trivy: vulnerability scan: no DB" in reported.notes


def test_passed_with_something_skipped_is_inconclusive(
    reports: Path, run_gate: RunGate, tmp_path: Path
) -> None:
    passing_gates(reports)
    skipped = "could not audit: offline (--allow-offline)"
    record(reports, ScanResult("audit", "pip-audit", skip_reason=skipped))
    none = str(tmp_path / "none.toml")
    ran = run_gate(summary.main, "--suppressions", none)
    assert ran.code == INCONCLUSIVE
    assert f"skipped: audit: {skipped}" in ran.out
    assert ran.out.strip().endswith("security: inconclusive - score 90/100")
    assert json.loads((reports / "summary.json").read_text())["verdict"] == "inconclusive"

    passing_gates(reports)
    record(reports, ScanResult("trivy", "trivy", skipped_checks=["vulnerability scan: no DB"]))
    ran = run_gate(summary.main, "--suppressions", none)
    assert ran.code == INCONCLUSIVE, "a check skipped inside a gate that passed"
    assert "skipped check: trivy: vulnerability scan: no DB" in ran.out

    passing_gates(reports)
    scanner.status_path(reports, "api-security").unlink()
    ran = run_gate(summary.main, "--suppressions", none)
    assert ran.code == INCONCLUSIVE, "a gate that did not run"
    assert "skipped: api-security: not run" in ran.out


def test_suppressions_are_applied_again_and_expiry_fails(
    reports: Path, tmp_path: Path, run_gate: RunGate
) -> None:
    passing_gates(reports)
    record(reports, ScanResult("bandit", "bandit", findings=[MEDIUM]))
    future = (scanner.utc_today() + timedelta(days=30)).isoformat()
    accepted = accept(tmp_path, "B608", "ops/*", future)
    ran = run_gate(summary.main, "--suppressions", str(accepted))
    assert ran.code == DONE
    assert "security: passed - score 100/100" in ran.out
    merged = json.loads((reports / summary.MERGED).read_text())
    [bandit_run] = [run for run in merged["runs"] if run["properties"]["gate"] == "bandit"]
    assert bandit_run["results"][0]["suppressions"][0]["status"] == "accepted"

    past = (scanner.utc_today() - timedelta(days=1)).isoformat()
    lapsed = accept(tmp_path, "B608", "ops/*", past)
    ran = run_gate(summary.main, "--suppressions", str(lapsed))
    assert ran.code == CHECK_FAILED
    assert f"expired: suppression expired on {past}: bandit B608 ops/*" in ran.err


def test_an_unused_suppression_is_pointed_out(
    reports: Path, tmp_path: Path, run_gate: RunGate
) -> None:
    passing_gates(reports)
    future = (scanner.utc_today() + timedelta(days=30)).isoformat()
    stale = accept(tmp_path, "B999", "nowhere/*", future)
    ran = run_gate(summary.main, "--suppressions", str(stale))
    assert ran.code == DONE
    assert "unused suppression (remove it?): bandit B999 nowhere/*" in ran.out


def test_the_job_summary_gets_the_markdown(
    reports: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_gate: RunGate
) -> None:
    step_summary = tmp_path / "step-summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))
    passing_gates(reports)
    assert run_gate(summary.main, "--suppressions", str(tmp_path / "x")).code == DONE
    text = step_summary.read_text()
    assert text.startswith("## Security gates: passed, score 100/100")
    assert "| api-security | api-security | passed | 0 | 0 | 0 | 0 | 0 | 0 |" in text


def test_nothing_to_summarise_cannot_run(tmp_path: Path, run_gate: RunGate) -> None:
    ran = run_gate(summary.main, "--suppressions", str(tmp_path / "x"))
    assert ran.code == CANNOT_RUN
    assert "no gate has reported to" in ran.err


def test_a_corrupt_gate_report_fails_that_gate(
    reports: Path, tmp_path: Path, run_gate: RunGate
) -> None:
    passing_gates(reports)
    none = str(tmp_path / "x")
    (reports / "licenses.sarif").write_text("{")
    ran = run_gate(summary.main, "--suppressions", none)
    assert ran.code == CHECK_FAILED
    assert "failed: licenses: licenses.sarif: not readable SARIF" in ran.err
    (reports / "licenses.status.json").write_text("{")
    ran = run_gate(summary.main, "--suppressions", none)
    assert ran.code == CANNOT_RUN
    assert ran.err.startswith("security: licenses status is not valid JSON (licenses.status.json)")
    assert ran.err.count("\n") == 1, "one line"
    (reports / "licenses.status.json").write_text('{"gate": "licenses"}')
    ran = run_gate(summary.main, "--suppressions", none)
    assert ran.code == CANNOT_RUN
    assert "licenses.status.json has no status (passed, skipped or failed)" in ran.err
