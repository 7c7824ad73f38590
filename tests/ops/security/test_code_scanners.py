"""bandit and semgrep: each fails on the planted code and names it.

The repository passing semgrep (a slow scanner) is shown by `nox -s semgrep`, which CI runs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ops.core.exits import DONE
from ops.security import bandit, semgrep
from ops.security.scanner import ScanError
from tests.ops.security.conftest import RunGate, failing, options, require_tool


def test_bandit_fails_on_a_shell_command_built_from_input(
    vulnerable_tree: Path, reports: Path, run_gate: RunGate
) -> None:
    (vulnerable_tree / "service" / "broken.py").write_text("def (:\n")
    err = failing(run_gate, "bandit", bandit.main, "--root", str(vulnerable_tree))
    assert "high B602 at service/vuln_shell.py:10" in err
    assert "bandit: FAILED - " in err
    assert "skipped: service/broken.py: syntax error" in err
    status = json.loads((reports / "bandit.status.json").read_text())
    assert status["status"] == "failed"
    assert status["counts"]["high"] >= 1
    assert (reports / "native" / "bandit.sarif").exists()


def test_bandit_passes_on_the_repository(reports: Path, run_gate: RunGate) -> None:
    require_tool("bandit")
    assert run_gate(bandit.main).code == DONE
    log = json.loads((reports / "bandit.sarif").read_text())
    assert log["runs"][0]["properties"]["status"] == "passed"


def test_bandit_needs_something_to_scan(tmp_path: Path, reports: Path) -> None:
    with pytest.raises(ScanError, match="no Python files to scan"):
        bandit.scan(options(root=tmp_path, reports=reports))


PLANTED = {
    "sql-built-by-string-formatting": "service/vuln_sql.py:11",
    "subprocess-shell": "service/vuln_shell.py:10",
    "jwt-decode-without-verification": "service/vuln_jwt.py:12",
    "jwt-none-algorithm": "service/vuln_jwt.py:16",
    "hardcoded-credential": "service/vuln_misc.py:15",
    "debug-enabled": "service/vuln_misc.py:17",
    "cors-any-origin": "service/vuln_misc.py:18",
    "yaml-unsafe-load": "service/vuln_misc.py:22",
    "http-request-without-timeout": "service/vuln_misc.py:26",
    "tls-verification-disabled": "service/vuln_misc.py:30",
    "code-execution-from-data": "service/vuln_misc.py:34",
    "unsafe-deserialization": "service/vuln_misc.py:38",
    "production-debug-enabled": "deploy/environments/production.toml:7",
    "production-cors-any-origin": "deploy/environments/production.toml:8",
}


def test_semgrep_fails_on_every_planted_pattern_and_names_it(
    vulnerable_tree: Path, reports: Path, run_gate: RunGate
) -> None:
    err = failing(run_gate, "semgrep", semgrep.main, "--root", str(vulnerable_tree))
    for rule, place in PLANTED.items():
        assert f"{rule} at {place}:" in err, rule
    assert "SQL built by string formatting reaches text" in err
    assert "critical jwt-decode-without-verification" in err
    log = json.loads((reports / "semgrep.sarif").read_text())
    assert {r["ruleId"] for r in log["runs"][0]["results"]} >= set(PLANTED)


def test_semgrep_report_errors() -> None:
    report = {
        "results": [],
        "errors": [{"level": "warn", "type": "Syntax error", "path": "a.py", "message": "bad"}],
    }
    assert semgrep.parse(report) == ([], ["a.py: Syntax error: bad"])
    # What semgrep prints (exit 7) for a rules file that is not YAML.
    message = "Invalid YAML file rules.yml:\n\twhile parsing a flow node\n\tline 4, column 1"
    broken = {
        "results": [],
        "errors": [{"level": "error", "type": "SemgrepError", "message": message}],
    }
    expected = "semgrep rules could not be used: SemgrepError: Invalid YAML file rules.yml: while"
    with pytest.raises(ScanError, match=expected):
        semgrep.parse(broken)
    with pytest.raises(ScanError, match="no JSON report"):
        semgrep.parse([])


def test_semgrep_command_stays_offline_and_adds_registry_rules_on_request() -> None:
    command = semgrep.command("semgrep", ["app/x.py"], Path("out.sarif"), ["p/python"])
    assert "--metrics=off" in command
    assert "--disable-version-check" in command
    assert command.count("--config") == 2
    assert "p/python" in command
    assert "tests/ops/security/fixtures/" in command
