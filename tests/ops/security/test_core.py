"""The machinery every gate shares: severities, suppressions, SARIF, the score, options, tools."""

from __future__ import annotations

import json
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

from ops.security import gate, sarif, score, suppressions
from ops.security.findings import Finding, Severity, severity_of, sort_key
from ops.security.suppressions import Assessment, Suppression, SuppressionError

TODAY = date(2026, 11, 27)
HIGH = Finding("bandit", "B602", Severity.HIGH, "shell=True", "app/x.py", 3)
LOW = Finding("bandit", "B105", Severity.LOW, "password-ish", "app/y.py")


def entry(**overrides: object) -> str:
    fields = {
        "tool": '"bandit"',
        "rule": '"B602"',
        "path": '"app/*"',
        "reason": '"reviewed: the command is a constant list"',
        "expires": "2027-01-31",
        "reviewed_by": '"someone"',
    }
    fields.update({key: str(value) for key, value in overrides.items()})
    return "[[suppression]]\n" + "".join(f"{k} = {v}\n" for k, v in fields.items() if v != "-")


def write_list(tmp_path: Path, *entries: str) -> Path:
    path = tmp_path / "suppressions.toml"
    path.write_text("\n".join(entries))
    return path


def test_tool_labels_map_onto_one_scale() -> None:
    assert severity_of("ERROR") is Severity.HIGH
    assert severity_of("Moderate") is Severity.MEDIUM
    assert severity_of("note") is Severity.LOW
    assert severity_of("UNKNOWN") is Severity.MEDIUM  # never dropped
    assert Severity.CRITICAL.blocking
    assert Severity.HIGH.blocking
    assert not Severity.MEDIUM.blocking
    assert sorted([LOW, HIGH], key=sort_key) == [HIGH, LOW]
    assert HIGH.location == "app/x.py:3"
    assert LOW.location == "app/y.py"
    assert Finding("audit", "X", Severity.LOW, "m").location == "-"


def test_a_suppression_covers_matching_findings_until_it_expires(tmp_path: Path) -> None:
    [accepted] = suppressions.load(write_list(tmp_path, entry()), TODAY)
    assert accepted.matches(HIGH)
    assert not accepted.matches(LOW)
    [covered, uncovered] = suppressions.assess([HIGH, LOW], [accepted], TODAY)
    assert covered.suppression is accepted
    assert not covered.blocking
    assert uncovered.suppression is None
    later = date(2027, 2, 1)
    [lapsed, _] = suppressions.assess([HIGH, LOW], [accepted], later)
    assert lapsed.suppression is None
    assert lapsed.blocking
    [line] = suppressions.expired([accepted], later, gate="bandit")
    assert line.startswith("suppression expired on 2027-01-31: bandit B602 app/*")
    assert suppressions.expired([accepted], later, gate="semgrep") == []


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"reason": "-"}, "missing reason"),
        ({"reason": '"ok"'}, "the reason must say why"),
        ({"tool": '"zap"'}, "tool 'zap' is not one of"),
        ({"expires": '"soon"'}, "expires must be a TOML date"),
        ({"expires": "2028-06-01"}, "more than 366 days ahead"),
        ({"owner": '"x"'}, "unknown key(s) owner"),
    ],
)
def test_an_incomplete_suppression_is_refused_in_one_line(
    tmp_path: Path, overrides: dict[str, object], problem: str
) -> None:
    with pytest.raises(SuppressionError, match="suppression #1") as error:
        suppressions.load(write_list(tmp_path, entry(**overrides)), TODAY)
    assert problem in str(error.value)
    assert "\n" not in str(error.value)


def test_an_unreadable_suppression_list_is_refused(tmp_path: Path) -> None:
    assert suppressions.load(tmp_path / "absent.toml", TODAY) == []
    with pytest.raises(SuppressionError, match="not valid TOML"):
        suppressions.load(write_list(tmp_path, "[[suppression]\n"), TODAY)
    with pytest.raises(SuppressionError, match="array of tables"):
        suppressions.load(write_list(tmp_path, 'suppression = "x"'), TODAY)
    with pytest.raises(SuppressionError, match="not a table"):
        suppressions.load(write_list(tmp_path, "suppression = [1]"), TODAY)


def test_the_repository_suppression_list_is_valid_and_current() -> None:
    entries = suppressions.load(gate.SUPPRESSIONS, gate.utc_today())
    assert entries, "the reviewed list exists"
    assert suppressions.expired(entries, gate.utc_today()) == []


def test_score_follows_the_documented_formula() -> None:
    assert score.score({}, 0, 0) == 100
    counts = {Severity.CRITICAL: 1, Severity.HIGH: 1, Severity.MEDIUM: 2, Severity.LOW: 30}
    assert score.penalty(counts, 1, 2) == 25 + 10 + 6 + 10 + 10 + 10
    assert score.score({Severity.CRITICAL: 5}, 0, 0) == 0
    assert score.score({Severity.INFO: 50}, 0, 0) == 100


def sample_log() -> sarif.Json:
    accepted = Suppression("bandit", "B105", "*", "a variable name, not a secret", TODAY, "me")
    assessed = [Assessment(HIGH), Assessment(LOW, accepted)]
    run = sarif.build_run("bandit", "bandit", "1.9", assessed, {"status": "failed"})
    return sarif.document([run])


def test_gate_sarif_is_valid_and_reads_back() -> None:
    log = sample_log()
    assert sarif.validate(log) == []
    run = log["runs"][0]
    rules = {rule["id"]: rule for rule in run["tool"]["driver"]["rules"]}
    assert rules["B602"]["properties"]["security-severity"] == "8.0"
    results = run["results"]
    assert results[0]["level"] == "error"
    assert results[1]["level"] == "note"
    assert results[1]["suppressions"][0]["kind"] == "external"
    assert "a variable name" in results[1]["suppressions"][0]["justification"]
    assert sarif.findings(log) == [HIGH, LOW]
    merged = sarif.merge([log, log])
    assert len(merged["runs"]) == 2
    assert sarif.validate(merged) == []


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (lambda log: log.update(version="2.0.0"), "version is '2.0.0'"),
        (lambda log: log.pop("$schema"), "$schema is missing"),
        (lambda log: log.update(runs={}), "runs is not an array"),
        (lambda log: log["runs"][0]["tool"]["driver"].pop("name"), "tool.driver.name"),
        (lambda log: log["runs"][0]["results"][0].update(level="fatal"), "level 'fatal'"),
        (lambda log: log["runs"][0]["results"][0].update(ruleId="B999"), "not a rule of the run"),
        (lambda log: log["runs"][0]["results"][0].update(ruleIndex=5), "ruleIndex"),
        (lambda log: log["runs"][0]["results"][0].pop("message"), "message.text"),
        (
            lambda log: log["runs"][0]["results"][0]["locations"][0]["physicalLocation"].update(
                region={"startLine": 0}
            ),
            "startLine must be a positive integer",
        ),
        (
            lambda log: log["runs"][0]["results"][1]["suppressions"][0].update(kind="maybe"),
            "kind must be inSource or external",
        ),
        (lambda log: log["runs"][0].update(results={}), "results is not an array"),
        (lambda log: log["runs"].append(7), "runs[1]: not an object"),
    ],
)
def test_sarif_validation_names_the_problem(damage: object, problem: str) -> None:
    log = sample_log()
    damage(log)  # type: ignore[operator]
    assert any(problem in p for p in sarif.validate(log)), sarif.validate(log)


def test_reading_a_broken_sarif_file_fails_in_one_line(tmp_path: Path) -> None:
    broken = tmp_path / "x.sarif"
    broken.write_text("{not json")
    with pytest.raises(ValueError, match=r"x\.sarif: not readable SARIF"):
        sarif.read(broken)
    broken.write_text(json.dumps({"version": "2.1.0", "$schema": "s", "runs": [{}]}))
    with pytest.raises(ValueError, match=r"not valid SARIF 2\.1\.0"):
        sarif.read(broken)
    assert sarif.validate([]) == ["the log is not a JSON object"]


def test_options_accept_every_gates_flags_and_refuse_unknown_ones() -> None:
    options = gate.parse_options("bandit", ["--allow-offline", "--image", "x:1", "--history"])
    assert options.allow_offline
    assert options.history
    assert options.image == "x:1"
    with pytest.raises(gate.GateError, match="unrecognized arguments: --allow-ofline"):
        gate.parse_options("bandit", ["--allow-ofline"])
    with pytest.raises(gate.GateError, match="--max-examples must be at least 1"):
        gate.parse_options("api-security", ["--max-examples", "0"])


def test_a_bad_option_is_one_line_exit_2_and_a_failed_status(
    reports: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def never(options: gate.Options) -> gate.GateResult:
        raise AssertionError("not reached")

    assert gate.main("bandit", "bandit", never, ["--reports", str(reports), "--bogus"]) == 2
    assert capsys.readouterr().err == "bandit: unrecognized arguments: --bogus\n"
    status = json.loads((reports / "bandit.status.json").read_text())
    assert status["status"] == "failed"
    assert "--bogus" in status["reason"]


def test_a_missing_tool_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    with pytest.raises(gate.GateError, match="no-such-scanner not found: install the security"):
        gate.find_tool("no-such-scanner")
    assert gate.find_tool("python") == str(Path(sys.executable).parent / "python")


def test_a_failing_or_hanging_tool_is_one_line(tmp_path: Path) -> None:
    script = "import sys; print('first'); print('the real problem', file=sys.stderr); sys.exit(3)"
    with pytest.raises(gate.GateError, match=r"failed \(exit 3\): the real problem$"):
        gate.run_tool([sys.executable, "-c", script], cwd=tmp_path)
    with pytest.raises(gate.GateError, match=r"did not finish within 0\.2s"):
        gate.run_tool(
            [sys.executable, "-c", "import time; time.sleep(5)"], cwd=tmp_path, timeout=0.2
        )
    with pytest.raises(gate.GateError, match="not found"):
        gate.run_tool([str(tmp_path / "missing")], cwd=tmp_path)
    assert gate.last_line("\x1b[31mred\x1b[0m\n\n") == "red"


def test_a_gate_that_cannot_run_writes_a_failed_status(
    reports: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(options: gate.Options) -> gate.GateResult:
        raise gate.GateError("the scanner crashed")

    assert gate.main("trivy", "trivy", broken, ["--reports", str(reports)]) == 2
    assert capsys.readouterr().err == "trivy: the scanner crashed\n"
    status = json.loads((reports / "trivy.status.json").read_text())
    assert status == status | {"status": "failed", "reason": "the scanner crashed"}


def test_verdicts(tmp_path: Path) -> None:
    result = gate.GateResult("bandit", "bandit", findings=[HIGH, LOW])
    outcome = gate.decide(result, [Assessment(HIGH), Assessment(LOW)], [])
    assert outcome.status == "failed"
    assert "B602 at app/x.py:3" in outcome.reason
    assert outcome.counts()["high"] == 1
    twice = gate.decide(result, [Assessment(HIGH), Assessment(HIGH)], [])
    assert twice.reason.count("B602 at app/x.py:3") == 1
    skipped = gate.GateResult("audit", "pip-audit", skip_reason="could not audit: offline")
    assert gate.decide(skipped, [], []).status == "skipped"
    expired = gate.decide(gate.GateResult("bandit", "bandit"), [], ["suppression expired on x"])
    assert expired.status == "failed"
    assert expired.reason == "suppression expired on x"
    assert gate.decide(gate.GateResult("bandit", "bandit"), [], []).status == "passed"


def test_the_terminal_report_lists_findings_worst_first() -> None:
    many = [Finding("bandit", "B1", Severity.LOW, "m", f"f{i}.py") for i in range(45)]
    many += [Finding("bandit", "B1", Severity.LOW, "m", "f0.py")] * 2
    accepted = Suppression("bandit", "B602", "*", "reviewed and accepted here", TODAY, "me")
    assessed = [Assessment(f) for f in many] + [Assessment(HIGH, accepted)]
    result = gate.GateResult("bandit", "bandit", "1.9", skipped_checks=["x: could not parse"])
    text = gate.render(result, gate.decide(result, assessed, []))
    assert text.splitlines()[0] == "bandit 1.9: 47 low; 1 suppressed"
    assert "low B1 at f0.py: m (and 2 more like it)" in text
    assert "... 5 more in the SARIF report" in text
    assert "suppressed after review: B602 app/x.py (x1)" in text
    assert "skipped: x: could not parse" in text


def test_an_expired_repository_suppression_fails_the_gate(
    tmp_path: Path, reports: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    yesterday = gate.utc_today() - timedelta(days=1)
    listed = write_list(tmp_path, entry(expires=yesterday.isoformat()))

    def clean(options: gate.Options) -> gate.GateResult:
        return gate.GateResult("bandit", "bandit")

    argv = ["--reports", str(reports), "--suppressions", str(listed)]
    assert gate.main("bandit", "bandit", clean, argv) == 1
    assert f"suppression expired on {yesterday}: bandit B602 app/*" in capsys.readouterr().err
