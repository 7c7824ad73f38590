"""The summary: one merged SARIF file, a table, the score, and the gate over all of them."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from ops.security import GATES, gate, sarif, summary
from ops.security.findings import Finding, Severity
from ops.security.suppressions import assess, load

HIGH = Finding("semgrep", "subprocess-shell", Severity.HIGH, "shell", "app/x.py", 3)
MEDIUM = Finding("bandit", "B608", Severity.MEDIUM, "sql-ish", "ops/y.py", 9)


def record(reports: Path, result: gate.GateResult, suppressions: Path | None = None) -> None:
    """What a gate run leaves behind."""
    today = gate.utc_today()
    entries = load(suppressions, today) if suppressions else []
    outcome = gate.decide(result, assess(result.findings, entries, today), [])
    gate.write_reports(result, outcome, reports)


def passing_gates(reports: Path) -> None:
    for name in GATES:
        record(reports, gate.GateResult(name, name, "1.0"))


def accept(tmp_path: Path, rule: str, path: str, expires: str) -> Path:
    listed = tmp_path / "suppressions.toml"
    listed.write_text(
        "[[suppression]]\n"
        f'tool = "bandit"\nrule = "{rule}"\npath = "{path}"\n'
        'reason = "identifiers only, each quoted"\n'
        f'expires = {expires}\nreviewed_by = "me"\n'
    )
    return listed


def test_all_gates_passing_scores_100(reports: Path, capsys: pytest.CaptureFixture[str]) -> None:
    passing_gates(reports)
    assert summary.main(["--reports", str(reports), "--suppressions", str(reports / "none")]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == [
        "gate", "tool", "status", "critical", "high", "medium", "low", "info", "suppressed",
    ]  # fmt: skip
    assert out.strip().endswith("security: passed - score 100/100")
    merged = json.loads((reports / summary.MERGED).read_text())
    assert sarif.validate(merged) == []
    assert [run["properties"]["gate"] for run in merged["runs"]] == list(GATES)


def test_a_blocking_finding_fails_and_a_gate_not_run_is_named(
    reports: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    record(reports, gate.GateResult("semgrep", "semgrep", findings=[HIGH]))
    record(reports, gate.GateResult("bandit", "bandit", findings=[MEDIUM]))
    record(reports, gate.GateResult("trivy", "trivy", skipped_checks=["vulnerability scan: no DB"]))
    skipped = "could not audit: offline (--allow-offline)"
    record(reports, gate.GateResult("audit", "pip-audit", skip_reason=skipped))
    argv = ["--reports", str(reports), "--suppressions", str(tmp_path / "none.toml")]
    assert summary.main(argv) == 1
    err = capsys.readouterr().err
    assert "failed: semgrep: 1 unsuppressed high/critical finding(s)" in err
    assert f"skipped: audit: {skipped}" in err
    assert "skipped: sbom: not run" in err
    assert "skipped check: trivy: vulnerability scan: no DB" in err
    # 10 (high) + 3 (medium) + 10 x 4 gates not checked (audit, sbom, licenses, api-security)
    # + 5 for trivy's skipped check + 10 for secrets, which did not run either.
    assert "security: FAILED - score 32/100" in err
    data = json.loads((reports / "summary.json").read_text())
    assert data["score"] == 32
    assert data["failed"] is True


def test_suppressions_are_applied_again_and_expiry_fails(
    reports: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    passing_gates(reports)
    record(reports, gate.GateResult("bandit", "bandit", findings=[MEDIUM]))
    future = (gate.utc_today() + timedelta(days=30)).isoformat()
    accepted = accept(tmp_path, "B608", "ops/*", future)
    assert summary.main(["--reports", str(reports), "--suppressions", str(accepted)]) == 0
    assert "security: passed - score 100/100" in capsys.readouterr().out
    merged = json.loads((reports / summary.MERGED).read_text())
    [bandit_run] = [run for run in merged["runs"] if run["properties"]["gate"] == "bandit"]
    assert bandit_run["results"][0]["suppressions"][0]["status"] == "accepted"

    past = (gate.utc_today() - timedelta(days=1)).isoformat()
    lapsed = accept(tmp_path, "B608", "ops/*", past)
    assert summary.main(["--reports", str(reports), "--suppressions", str(lapsed)]) == 1
    assert f"expired: suppression expired on {past}: bandit B608 ops/*" in capsys.readouterr().err


def test_an_unused_suppression_is_pointed_out(
    reports: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    passing_gates(reports)
    future = (gate.utc_today() + timedelta(days=30)).isoformat()
    stale = accept(tmp_path, "B999", "nowhere/*", future)
    assert summary.main(["--reports", str(reports), "--suppressions", str(stale)]) == 0
    assert "unused suppression (remove it?): bandit B999 nowhere/*" in capsys.readouterr().out


def test_the_job_summary_gets_the_markdown(
    reports: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    step_summary = tmp_path / "step-summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))
    passing_gates(reports)
    assert summary.main(["--reports", str(reports), "--suppressions", str(tmp_path / "x")]) == 0
    text = step_summary.read_text()
    assert text.startswith("## Security gates: passed, score 100/100")
    assert "| api-security | api-security | passed | 0 | 0 | 0 | 0 | 0 | 0 |" in text


def test_nothing_to_summarise_is_an_error(
    reports: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert summary.main(["--reports", str(reports), "--suppressions", str(tmp_path / "x")]) == 2
    assert "no gate has reported to" in capsys.readouterr().err


def test_a_corrupt_gate_report_fails_that_gate(
    reports: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    passing_gates(reports)
    (reports / "licenses.sarif").write_text("{")
    assert summary.main(["--reports", str(reports), "--suppressions", str(tmp_path / "x")]) == 1
    assert "failed: licenses: licenses.sarif: not readable SARIF" in capsys.readouterr().err
    (reports / "licenses.status.json").write_text("{")
    assert summary.main(["--reports", str(reports), "--suppressions", str(tmp_path / "x")]) == 2
    assert "security: licenses status is not valid JSON" in capsys.readouterr().err
