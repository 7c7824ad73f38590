"""The feedback comment built from fixture reports: all green, failing tests, coverage under
the floor, a failed security verdict, and every input missing or unreadable said in the
comment rather than raised."""

from __future__ import annotations

from pathlib import Path

from ops.ci.feedback import MARKER, Changes, JUnitTotals, gather, markdown
from ops.sessions.coverage_xml import CoverageTotal
from tests.ops.ci import reports

RUN = "https://github.com/acme/trading/actions/runs/7"


def green(tmp_path: Path) -> Path:
    directory = tmp_path / "reports"
    reports.junit(directory, "tests-3.11", 40)
    reports.junit(directory, "integration", 12)
    reports.coverage(directory, lines=1000, covered=930, branches=200, taken=180)
    reports.security(directory, 100)
    return directory


def rows(comment: str) -> dict[str, str]:
    """The summary table: part -> cell."""
    found = {}
    for line in comment.splitlines():
        if line.startswith("| **"):
            part, cell = line.strip("| ").split(" | ", 1)
            found[part.strip("*")] = cell.removesuffix(" |")
    return found


def test_all_green_says_so(tmp_path: Path) -> None:
    base, head = reports.history(tmp_path / "repo")
    found = gather(green(tmp_path), tmp_path / "repo", base, head, {"tests": "success"})
    assert found.problems == []
    comment = markdown(found, head, RUN)
    assert comment.startswith(MARKER + "\n"), "the marker comes first: it finds the comment"
    assert "### CI feedback: ✅ nothing to look at" in comment
    assert rows(comment) == {
        "Tests": "✅ 52 passed, 0 failed, 0 errors, 0 skipped in 2 reports",
        "Coverage": "✅ 92.5% (floor 90%)",
        "Security": "✅ passed, score 100/100",
        "Changes": f"2 commits, 3 files, +3 -1 since `{base[:12]}`",
        "CI jobs": "tests ✅ success",
    }
    assert "| tests-3.11 | 40 | 0 | 0 | 0 | 1.5 |" in comment, "the per-report table"
    assert "Failed tests" not in comment
    assert (
        f"commit `{head[:12]}` · [workflow run](https://github.com/acme/trading/actions/runs/7)"
        in comment
    )


def test_failing_tests_are_counted_named_and_headlined(tmp_path: Path) -> None:
    directory = green(tmp_path)
    reports.junit(directory, "tests-3.12", 5, {"test_cancel": "assert 3 == 2", "test_fill": ""})
    comment = markdown(gather(directory, tmp_path, None, "HEAD"))
    assert "### CI feedback: ❌ 1 to look at: tests" in comment
    assert rows(comment)["Tests"] == "❌ 55 passed, 2 failed, 0 errors, 0 skipped in 3 reports"
    assert "**Failed tests** (2):" in comment
    assert "- `tests.unit.test_book.test_cancel` (tests-3.12): assert 3 == 2" in comment
    assert "- `tests.unit.test_book.test_fill` (tests-3.12): Traceback ..." in comment


def test_coverage_under_the_floor_and_a_failed_security_verdict_show(tmp_path: Path) -> None:
    directory = green(tmp_path)
    reports.coverage(directory, lines=1000, covered=850)
    reason = "2 unsuppressed high/critical finding(s)"
    reports.security(directory, 45, reports.failed_gate("semgrep", reason),
                     reports.skipped_gate("audit", "could not audit: offline"))  # fmt: skip
    found = gather(directory, tmp_path, None, "HEAD", {"security": "failure"})
    assert found.problems == ["coverage", "security", "the security job"]
    comment = markdown(found)
    assert rows(comment)["Coverage"] == "❌ 85.0%, under the floor of 90%"
    assert rows(comment)["Security"] == "❌ failed, score 45/100"
    assert f"- failed: semgrep: {reason}" in comment
    assert "- skipped: audit: could not audit: offline" in comment
    assert rows(comment)["CI jobs"] == "security ❌ failure"


def test_coverage_rounds_as_the_session_does() -> None:
    assert not CoverageTotal(1000, 896, 0, 0).below(90), "89.6% passes --fail-under=90"
    assert CoverageTotal(1000, 894, 0, 0).below(90)


def test_every_input_missing_is_said_not_raised(tmp_path: Path) -> None:
    found = gather(tmp_path / "nothing", tmp_path, None, "HEAD")
    assert found.problems == []
    assert rows(markdown(found)) == {
        "Tests": "❔ not reported: no JUnit reports in junit/",
        "Coverage": "❔ not reported: no coverage.xml: the quality gate's `nox -s coverage` "
        "did not write one",
        "Security": "❔ not reported: no security/summary.json: the security summary did not run",
        "Changes": "❔ not reported: no base commit: --base SHA, or a pull_request event",
    }


def test_unreadable_inputs_are_named_in_the_comment(tmp_path: Path) -> None:
    directory = tmp_path / "reports"
    (directory / "junit").mkdir(parents=True)
    (directory / "junit" / "tests-3.11.xml").write_text("<testsuites><testsuite")
    (directory / "coverage.xml").write_text("<report/>")
    (directory / "security").mkdir()
    (directory / "security" / "summary.json").write_text('{"gates": []}')
    found = gather(directory, tmp_path, "0" * 40, "HEAD")
    cells = rows(markdown(found))
    assert cells["Tests"].startswith("❔ not reported: a JUnit report could not be read: ")
    assert cells["Coverage"] == (
        "❔ not reported: coverage.xml is not a coverage report (no &lt;coverage lines-valid=...>)"
    )
    assert cells["Security"] == (
        "❔ not reported: summary.json has no score and verdict: not a security summary"
    )
    assert cells["Changes"].startswith("❔ not reported: git log --no-merges failed (exit 128): ")


def test_what_changed_lists_commits_and_files_safely(tmp_path: Path) -> None:
    base, head = reports.history(tmp_path)
    changes = gather(tmp_path / "none", tmp_path, base, head).changes
    assert isinstance(changes, Changes)
    assert [line.split(" ", 1)[1] for line in changes.commits] == [
        "Notes",
        "Orders: reject a <script> | pipe",
    ]
    assert [(f.path, f.added, f.removed) for f in changes.files] == [
        ("app.py", 2, 1),
        ("logo.png", None, None),
        ("notes.md", 1, 0),
    ]
    comment = markdown(gather(tmp_path / "none", tmp_path, base, head))
    assert "Orders: reject a &lt;script> | pipe" in comment, "no HTML from a commit message"
    assert "| `logo.png` | binary |  |" in comment


def test_long_lists_are_cut(tmp_path: Path) -> None:
    directory = tmp_path / "reports"
    many = {f"test_{n}": "boom" for n in range(25)}
    reports.junit(directory, "tests-3.11", 30, many)
    tests = gather(directory, tmp_path, None, "HEAD").tests
    assert isinstance(tests, JUnitTotals)
    comment = markdown(gather(directory, tmp_path, None, "HEAD"))
    assert comment.count("(tests-3.11): boom") == 10
    assert "- … and 15 more" in comment
