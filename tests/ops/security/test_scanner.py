"""The machinery every gate shares: severities, suppressions, SARIF, the score, options,
the verdict and its exit code, tools that fail."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pytest

from ops.core.commands import Completed, check, find_executable
from ops.core.exits import CANNOT_RUN, CHECK_FAILED, DONE, INCONCLUSIVE
from ops.security import sarif, scanner, score, suppressions
from ops.security.findings import Finding, Severity, severity_of, sort_key
from ops.security.scanner import Options, ScanError, ScanResult
from ops.security.suppressions import Assessment, Suppression, SuppressionError
from tests.ops.security.conftest import Main, RunGate

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
    entries = suppressions.load(scanner.SUPPRESSIONS, scanner.utc_today())
    assert entries, "the reviewed list exists"
    assert suppressions.expired(entries, scanner.utc_today()) == []


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
    argv = ["--allow-offline", "--image", "x:1", "--history"]
    options = scanner.parse_options("bandit", argv, {"PATH": "/bin"})
    assert options.allow_offline
    assert options.history
    assert options.image == "x:1"
    assert options.env == {"PATH": "/bin"}
    assert "PATH" not in repr(options), "the environment (secrets too) is never printed"
    with pytest.raises(ScanError, match="unrecognized arguments: --allow-ofline"):
        scanner.parse_options("bandit", ["--allow-ofline"], {})
    with pytest.raises(ScanError, match="--max-examples must be at least 1"):
        scanner.parse_options("api-security", ["--max-examples", "0"], {})


def never(options: Options) -> ScanResult:
    raise AssertionError("not reached")


def status_of(reports: Path, gate: str) -> dict[str, object]:
    status: dict[str, object] = json.loads(scanner.status_path(reports, gate).read_text())
    return status


def test_a_bad_option_is_one_line_exit_2_and_a_failed_status(
    reports: Path, run_gate: RunGate
) -> None:
    ran = run_gate(gate_running(never, "bandit"), "--bogus")
    assert ran.code == CANNOT_RUN
    assert ran.err == "bandit: unrecognized arguments: --bogus\n"
    status = status_of(reports, "bandit")
    assert status["status"] == "failed"
    assert "--bogus" in str(status["reason"])


def gate_running(scan: Callable[[Options], ScanResult], gate: str = "trivy") -> Main:
    """The ``main`` of a gate whose scan is ``scan``."""
    return lambda argv: scanner.main(gate, gate, scan, argv)


def test_a_missing_tool_cannot_run_and_says_how_to_install_it(
    reports: Path, run_gate: RunGate
) -> None:
    def missing(options: Options) -> ScanResult:
        find_executable("no-such-scanner", hint=scanner.HINT, env={"PATH": str(reports)})
        raise AssertionError("not reached")

    ran = run_gate(gate_running(missing))
    assert ran.code == CANNOT_RUN
    assert ran.err == (
        "trivy: no-such-scanner not found: install the security dependency group"
        " (uv sync --group security)\n"
    )
    assert status_of(reports, "trivy")["status"] == "failed"


def test_a_failing_or_hanging_tool_cannot_run_and_is_one_line(
    reports: Path, run_gate: RunGate
) -> None:
    script = "import sys; print('first'); print('the real problem', file=sys.stderr); sys.exit(3)"

    def failing(options: Options) -> ScanResult:
        check([sys.executable, "-c", script], cwd=reports, env=options.env)
        raise AssertionError("not reached")

    ran = run_gate(gate_running(failing))
    assert ran.code == CANNOT_RUN, "a scanner that fails is not a failed gate"
    assert ran.err.startswith("trivy: ")
    assert ran.err.endswith("failed (exit 3): the real problem\n")

    def hanging(options: Options) -> ScanResult:
        sleep = [sys.executable, "-c", "import time; time.sleep(5)"]
        check(sleep, cwd=reports, env=options.env, timeout=0.2)
        raise AssertionError("not reached")

    ran = run_gate(gate_running(hanging))
    assert ran.code == CANNOT_RUN
    assert ran.err.endswith("did not finish within 0.2s\n")


def test_a_gate_that_cannot_run_writes_a_failed_status(reports: Path, run_gate: RunGate) -> None:
    def broken(options: Options) -> ScanResult:
        raise ScanError("the scanner crashed")

    ran = run_gate(gate_running(broken))
    assert ran.code == CANNOT_RUN
    assert ran.err == "trivy: the scanner crashed\n"
    status = status_of(reports, "trivy")
    assert status == status | {"status": "failed", "reason": "the scanner crashed"}


def test_verdicts_and_their_exit_codes() -> None:
    result = ScanResult("bandit", "bandit", findings=[HIGH, LOW])
    failed = scanner.decide(result, [Assessment(HIGH), Assessment(LOW)], [])
    assert failed.status == "failed"
    assert failed.exit_code == CHECK_FAILED
    assert "B602 at app/x.py:3" in failed.reason
    assert failed.counts()["high"] == 1
    twice = scanner.decide(result, [Assessment(HIGH), Assessment(HIGH)], [])
    assert twice.reason.count("B602 at app/x.py:3") == 1
    skipped = ScanResult("audit", "pip-audit", skip_reason="could not audit: offline")
    assert scanner.decide(skipped, [], []).status == "skipped"
    assert scanner.decide(skipped, [], []).exit_code == INCONCLUSIVE
    expired = scanner.decide(ScanResult("bandit", "bandit"), [], ["suppression expired on x"])
    assert expired.status == "failed"
    assert expired.reason == "suppression expired on x"
    assert expired.exit_code == CHECK_FAILED
    passed = scanner.decide(ScanResult("bandit", "bandit"), [], [])
    assert (passed.status, passed.exit_code, passed.headline()) == ("passed", DONE, "passed")
    partial = ScanResult("trivy", "trivy", skipped_checks=["vulnerability scan: no DB"])
    inconclusive = scanner.decide(partial, [], [])
    assert inconclusive.status == "passed"
    assert inconclusive.exit_code == INCONCLUSIVE
    assert inconclusive.headline() == "passed, 1 check(s) skipped"
    partial.findings.append(HIGH)
    assert scanner.decide(partial, [Assessment(HIGH)], []).exit_code == CHECK_FAILED


def test_the_terminal_report_lists_findings_worst_first() -> None:
    many = [Finding("bandit", "B1", Severity.LOW, "m", f"f{i}.py") for i in range(45)]
    many += [Finding("bandit", "B1", Severity.LOW, "m", "f0.py")] * 2
    accepted = Suppression("bandit", "B602", "*", "reviewed and accepted here", TODAY, "me")
    assessed = [Assessment(f) for f in many] + [Assessment(HIGH, accepted)]
    result = ScanResult("bandit", "bandit", "1.9", skipped_checks=["x: could not parse"])
    text = scanner.render(result, scanner.decide(result, assessed, []))
    assert text.splitlines()[0] == "bandit 1.9: 47 low; 1 suppressed"
    assert "low B1 at f0.py: m (and 2 more like it)" in text
    assert "... 5 more in the SARIF report" in text
    assert "suppressed after review: B602 app/x.py (x1)" in text
    assert "skipped: x: could not parse" in text
    assert text.splitlines()[-1] == "bandit: passed, 1 check(s) skipped"


def test_a_gate_that_skipped_a_check_is_inconclusive(reports: Path, run_gate: RunGate) -> None:
    def partial(options: Options) -> ScanResult:
        return ScanResult("trivy", "trivy", skipped_checks=["vulnerability scan: no DB"])

    ran = run_gate(gate_running(partial))
    assert ran.code == INCONCLUSIVE
    assert "  skipped: vulnerability scan: no DB" in ran.out
    assert ran.out.endswith("trivy: passed, 1 check(s) skipped\n")
    assert status_of(reports, "trivy")["skipped_checks"] == ["vulnerability scan: no DB"]


def test_an_expired_suppression_fails_the_gate_it_belongs_to(
    tmp_path: Path, run_gate: RunGate
) -> None:
    yesterday = scanner.utc_today() - timedelta(days=1)
    listed = str(write_list(tmp_path, entry(expires=yesterday.isoformat())))

    def clean(gate: str) -> Main:
        return gate_running(lambda options: ScanResult(gate, gate), gate)

    ran = run_gate(clean("bandit"), "--suppressions", listed)
    assert ran.code == CHECK_FAILED
    assert f"suppression expired on {yesterday}: bandit B602 app/*" in ran.err
    assert run_gate(clean("trivy"), "--suppressions", listed).code == DONE


def test_a_scanner_that_prints_no_json_is_named_with_its_reason() -> None:
    printed = Completed(("semgrep",), 2, "Traceback ...", "x\nsemgrep: error: bad option\n")
    with pytest.raises(ScanError, match=r"^semgrep printed no JSON: bad option$"):
        scanner.json_output(printed, "semgrep")
    assert scanner.json_output(Completed(("semgrep",), 0, '{"results": []}'), "semgrep") == {
        "results": []
    }


def test_a_native_report_is_never_a_stale_one(reports: Path) -> None:
    stale = reports / "native" / "bandit.sarif"
    stale.parent.mkdir()
    stale.write_text("{}")
    assert scanner.native_report(Options(env={}, reports=reports), "bandit.sarif") == stale
    assert not stale.exists()
    with pytest.raises(ScanError, match=r"^the bandit report missing: "):
        scanner.load_json(stale, "the bandit report")
