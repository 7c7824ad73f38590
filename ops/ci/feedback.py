"""The pull request feedback: what CI's reports say about a change, as one Markdown comment.

Read from one reports directory (where the workflow downloads the jobs' artifacts):

- ``junit/*.xml`` -- every test session's JUnit report (:mod:`ops.sessions.junit`);
- ``coverage.xml`` -- the combined coverage of the quality gate's ``nox -s coverage``
  (:mod:`ops.sessions.coverage_xml`), against the floor that session enforces;
- ``security/summary.json`` -- the security summary's verdict and 0-100 score
  (:func:`ops.security.summary.read_reported`);

and from git, what changed between the base and the head commit: the commits
(``base..head``) and the files (``base...head``: since the branch left the base).

An input that is missing or unreadable is said in the comment ("not reported", and why),
never an error: the comment is feedback, not a gate. A failed test, coverage under the
floor, a failed security verdict or a failed job is marked and counted in the headline.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ops.core.commands import CommandError
from ops.core.exits import OpsError, one_line
from ops.core.git import git
from ops.security.summary import Reported, read_reported
from ops.sessions import coverage_xml
from ops.sessions.coverage_xml import CoverageTotal, read_total
from ops.sessions.junit import FailedCase, SuiteResult, failed_cases, markdown_table, read_junit

MARKER = "<!-- trading-ci-feedback -->"
"""The hidden first line that makes a comment the feedback comment."""
SHOWN_FAILURES = 10
SHOWN_COMMITS = 30
SHOWN_FILES = 50
MESSAGE_LENGTH = 160
BAD_OUTCOMES = frozenset({"failure", "cancelled"})

PASS, FAIL, WARN, NONE = "✅", "❌", "⚠️", "❔"


@dataclass(frozen=True, slots=True)
class JUnitTotals:
    """Every JUnit report's totals, and the tests that failed."""

    suites: list[SuiteResult]
    failed: list[FailedCase]

    def total(self, attribute: str) -> int:
        """The sum of one count (``tests``, ``failures``, ``errors``, ``skipped``, ``passed``)."""
        return sum(int(getattr(suite, attribute)) for suite in self.suites)

    @property
    def broken(self) -> int:
        """Tests that failed or errored."""
        return self.total("failures") + self.total("errors")


@dataclass(frozen=True, slots=True)
class FileChange:
    """One file's lines added and removed (None for a binary file)."""

    path: str
    added: int | None
    removed: int | None


@dataclass(frozen=True, slots=True)
class Changes:
    """The commits and files between the base and the head."""

    base: str
    head: str
    commits: list[str]
    files: list[FileChange]

    def lines(self, attribute: str) -> int:
        """Lines ``added`` or ``removed`` over all the text files."""
        return sum(getattr(change, attribute) or 0 for change in self.files)


@dataclass(frozen=True, slots=True)
class Feedback:
    """Everything the comment says; each part is its reading, or why it is not reported."""

    tests: JUnitTotals | str
    coverage: CoverageTotal | str
    security: Reported | str
    changes: Changes | str
    jobs: Mapping[str, str] = field(default_factory=dict)
    floor: int = coverage_xml.FLOOR

    @property
    def problems(self) -> list[str]:
        """What needs attention: failed tests, coverage under the floor, a failed security
        verdict, a job that failed or was cancelled."""
        found = []
        if isinstance(self.tests, JUnitTotals) and self.tests.broken:
            found.append("tests")
        if isinstance(self.coverage, CoverageTotal) and self.coverage.below(self.floor):
            found.append("coverage")
        if isinstance(self.security, Reported) and self.security.verdict == "failed":
            found.append("security")
        found += [f"the {job} job" for job, result in self.jobs.items() if result in BAD_OUTCOMES]
        return found


def gather(
    reports: Path,
    root: Path,
    base: str | None,
    head: str,
    jobs: Mapping[str, str] | None = None,
) -> Feedback:
    """Read every input; none of them missing raises."""
    return Feedback(
        read_tests(reports / "junit"),
        read_coverage(reports / coverage_xml.FILE_NAME),
        read_security(reports / "security" / "summary.json"),
        read_changes(root, base, head),
        dict(jobs or {}),
    )


def read_tests(directory: Path) -> JUnitTotals | str:
    """The JUnit reports in ``directory``, or why there are none to show."""
    paths = sorted(directory.glob("*.xml")) if directory.is_dir() else []
    if not paths:
        return f"no JUnit reports in {directory.name}/"
    try:
        suites = [read_junit(path) for path in paths]
        failed = [case for path in paths for case in failed_cases(path)]
    except (ET.ParseError, ValueError, OSError) as error:
        return f"a JUnit report could not be read: {one_line(error)}"
    return JUnitTotals(suites, failed)


def read_coverage(path: Path) -> CoverageTotal | str:
    """The combined coverage total, or why it is not reported."""
    if not path.is_file():
        return f"no {path.name}: the quality gate's `nox -s coverage` did not write one"
    try:
        return read_total(path)
    except (ValueError, OSError) as error:
        return one_line(error)


def read_security(path: Path) -> Reported | str:
    """The security summary's score and verdict, or why they are not reported."""
    if not path.is_file():
        return f"no security/{path.name}: the security summary did not run"
    try:
        return read_reported(path)
    except OpsError as error:
        return one_line(error)


def read_changes(root: Path, base: str | None, head: str) -> Changes | str:
    """The commits and files from ``base`` to ``head`` in the checkout at ``root``."""
    if not base:
        return "no base commit: --base SHA, or a pull_request event"
    try:
        log = git("log", "--no-merges", "--format=%h %s", f"{base}..{head}", cwd=root)
        numstat = git("diff", "--numstat", f"{base}...{head}", cwd=root)
    except CommandError as error:
        return one_line(error)
    return Changes(base, head, log.stdout.splitlines(), _file_changes(numstat.stdout))


def _file_changes(numstat: str) -> list[FileChange]:
    changes = []
    for line in numstat.splitlines():
        added, removed, path = line.split("\t", 2)
        counted = added != "-"  # git's mark for a binary file
        changes.append(FileChange(path, int(added) if counted else None,
                                  int(removed) if counted else None))  # fmt: skip
    return changes


def markdown(feedback: Feedback, head: str = "", run_url: str = "") -> str:
    """The comment: the marker, a headline, one row per part, then the details."""
    problems = feedback.problems
    headline = (
        f"{FAIL} {len(problems)} to look at: {', '.join(problems)}"
        if problems
        else f"{PASS} nothing to look at"
    )
    lines = [MARKER, f"### CI feedback: {headline}", "", "| | |", "|---|---|"]
    lines += [
        f"| **Tests** | {_tests_line(feedback.tests)} |",
        f"| **Coverage** | {_coverage_line(feedback.coverage, feedback.floor)} |",
        f"| **Security** | {_security_line(feedback.security)} |",
        f"| **Changes** | {_changes_line(feedback.changes)} |",
    ]
    if feedback.jobs:
        lines.append(f"| **CI jobs** | {_jobs_line(feedback.jobs)} |")
    lines += _test_details(feedback.tests)
    lines += _security_details(feedback.security)
    lines += _change_details(feedback.changes)
    lines += ["", _footer(head, run_url)]
    return "\n".join(lines) + "\n"


def _tests_line(tests: JUnitTotals | str) -> str:
    if isinstance(tests, str):
        return f"{NONE} not reported: {_cell(tests)}"
    counts = (
        f"{tests.total('passed')} passed, {tests.total('failures')} failed, "
        f"{tests.total('errors')} errors, {tests.total('skipped')} skipped "
        f"in {len(tests.suites)} reports"
    )
    return f"{FAIL} {counts}" if tests.broken else f"{PASS} {counts}"


def _coverage_line(coverage: CoverageTotal | str, floor: int) -> str:
    if isinstance(coverage, str):
        return f"{NONE} not reported: {_cell(coverage)}"
    if coverage.below(floor):
        return f"{FAIL} {coverage.percent:.1f}%, under the floor of {floor}%"
    return f"{PASS} {coverage.percent:.1f}% (floor {floor}%)"


def _security_line(security: Reported | str) -> str:
    if isinstance(security, str):
        return f"{NONE} not reported: {_cell(security)}"
    icon = {"passed": PASS, "failed": FAIL}.get(security.verdict, WARN)
    return f"{icon} {security.verdict}, score {security.score}/100"


def _changes_line(changes: Changes | str) -> str:
    if isinstance(changes, str):
        return f"{NONE} not reported: {_cell(changes)}"
    return (
        f"{len(changes.commits)} commits, {len(changes.files)} files, "
        f"+{changes.lines('added')} -{changes.lines('removed')} since `{changes.base[:12]}`"
    )


def _jobs_line(jobs: Mapping[str, str]) -> str:
    icons = {"success": PASS, "failure": FAIL, "cancelled": FAIL, "skipped": NONE}
    return ", ".join(f"{_cell(job)} {icons.get(result, WARN)} {result}"
                     for job, result in jobs.items())  # fmt: skip


def _test_details(tests: JUnitTotals | str) -> list[str]:
    if isinstance(tests, str):
        return []
    lines = ["", "<details><summary>Tests by report</summary>", "", markdown_table(tests.suites),
             "</details>"]  # fmt: skip
    if tests.failed:
        lines += ["", f"**Failed tests** ({len(tests.failed)}):", ""]
        for case in tests.failed[:SHOWN_FAILURES]:
            said = f": {_inline(case.message[:MESSAGE_LENGTH])}" if case.message else ""
            lines.append(f"- `{_code(case.name)}` ({_inline(case.suite)}){said}")
        lines += _more(len(tests.failed), SHOWN_FAILURES)
    return lines


def _security_details(security: Reported | str) -> list[str]:
    if isinstance(security, str) or not security.notes:
        return []
    return ["", "**Security notes:**", "", *(f"- {_inline(note)}" for note in security.notes)]


def _change_details(changes: Changes | str) -> list[str]:
    if isinstance(changes, str):
        return []
    lines = ["", f"<details><summary>What changed since the base ({changes.base[:12]})</summary>",
             "", "Commits:", ""]  # fmt: skip
    lines += [f"- {_inline(commit)}" for commit in changes.commits[:SHOWN_COMMITS]]
    lines += _more(len(changes.commits), SHOWN_COMMITS)
    lines += ["", "| file | added | removed |", "|---|---:|---:|"]
    for change in changes.files[:SHOWN_FILES]:
        added = "binary" if change.added is None else str(change.added)
        removed = "" if change.removed is None else str(change.removed)
        lines.append(f"| `{_code(change.path, in_table=True)}` | {added} | {removed} |")
    lines += _more(len(changes.files), SHOWN_FILES)
    return [*lines, "", "</details>"]


def _footer(head: str, run_url: str) -> str:
    parts = [f"commit `{head[:12]}`"] if head else []
    parts += [f"[workflow run]({run_url})"] if run_url else []
    parts.append("updated in place by `invoke ci.feedback`")
    return "<sub>" + " · ".join(parts) + "</sub>"


def _more(count: int, shown: int) -> list[str]:
    return [f"- … and {count - shown} more"] if count > shown else []


def _inline(text: str) -> str:
    """Text from a report or a commit, kept from opening HTML or breaking the line."""
    return " ".join(text.split()).replace("<", "&lt;")


def _cell(text: str) -> str:
    """Text inside a table cell."""
    return _inline(text).replace("|", "\\|")


def _code(text: str, in_table: bool = False) -> str:
    """Text for a `code` span (where HTML is shown as written): one line, no backtick."""
    flat = " ".join(text.split()).replace("`", "'")
    return flat.replace("|", "\\|") if in_table else flat
