"""Summaries of the JUnit reports the test sessions write, for terminals and job summaries."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class SuiteResult:
    """Counts from one JUnit XML file."""

    name: str
    tests: int
    failures: int
    errors: int
    skipped: int
    seconds: float

    @property
    def passed(self) -> int:
        """Tests that neither failed, errored nor were skipped."""
        return self.tests - self.failures - self.errors - self.skipped


def read_junit(path: Path) -> SuiteResult:
    """Totals of a JUnit report (one or many test suites)."""
    root = ET.parse(path).getroot()  # noqa: S314 - our own file
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))

    def total(attribute: str) -> int:
        return sum(int(suite.get(attribute, 0)) for suite in suites)

    seconds = sum(float(suite.get("time", 0.0)) for suite in suites)
    return SuiteResult(
        path.stem, total("tests"), total("failures"), total("errors"), total("skipped"), seconds
    )


@dataclass(frozen=True, slots=True)
class FailedCase:
    """One test that failed or errored, and the first line of why."""

    suite: str
    name: str
    message: str


def failed_cases(path: Path) -> list[FailedCase]:
    """The test cases of a JUnit report with a ``<failure>`` or an ``<error>``, in file order."""
    root = ET.parse(path).getroot()  # noqa: S314 - our own file
    found = []
    for case in root.iter("testcase"):
        problem = next((child for child in case if child.tag in ("failure", "error")), None)
        if problem is None:
            continue
        where = case.get("classname", "")
        name = f"{where}.{case.get('name', '')}" if where else case.get("name", "")
        said = problem.get("message") or (problem.text or "").strip()
        found.append(FailedCase(path.stem, name, said.splitlines()[0] if said else ""))
    return found


def junit_markdown(directory: Path) -> str:
    """A Markdown table of every JUnit report in ``directory``."""
    results = [read_junit(path) for path in sorted(directory.glob("*.xml"))]
    if not results:
        return "No test reports found.\n"
    return markdown_table(results)


def markdown_table(results: Sequence[SuiteResult]) -> str:
    """A Markdown table of some reports' totals, one row each."""
    lines = [
        "| suite | passed | failed | errors | skipped | seconds |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.name} | {r.passed} | {r.failures} | {r.errors} | {r.skipped} | {r.seconds:.1f} |"
        )
    return "\n".join(lines) + "\n"
