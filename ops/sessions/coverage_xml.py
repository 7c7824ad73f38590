"""The combined coverage the ``coverage`` session writes to ``reports/coverage.xml``, read
back: its total and the floor the session enforces (no nox here: the feedback task reads it
in an environment without nox)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

FLOOR = 90
"""The ``coverage`` session fails under this many percent."""
FILE_NAME = "coverage.xml"


@dataclass(frozen=True, slots=True)
class CoverageTotal:
    """Lines and branches covered, over all the measured code."""

    lines: int
    lines_covered: int
    branches: int
    branches_covered: int

    @property
    def percent(self) -> float:
        """As ``coverage report`` counts it: covered lines and branches over all of them."""
        measured = self.lines + self.branches
        return 100.0 * (self.lines_covered + self.branches_covered) / measured if measured else 0.0

    def below(self, floor: int = FLOOR) -> bool:
        """True under the floor, rounded as ``coverage report --fail-under`` rounds it (to
        whole percents: 89.6% passes a floor of 90)."""
        return round(self.percent) < floor


def read_total(path: Path) -> CoverageTotal:
    """The totals of a Cobertura report written by ``coverage xml``.

    Raises :class:`ValueError` naming the file when it is not one.
    """
    try:
        root = ET.parse(path).getroot()  # noqa: S314 - our own file
    except ET.ParseError as error:
        raise ValueError(f"{path.name} is not XML: {error}") from None
    if root.tag != "coverage" or root.get("lines-valid") is None:
        raise ValueError(f"{path.name} is not a coverage report (no <coverage lines-valid=...>)")
    try:
        counts = [
            int(root.get(name, "0"))
            for name in ("lines-valid", "lines-covered", "branches-valid", "branches-covered")
        ]
    except ValueError:
        raise ValueError(f"{path.name}: the totals are not numbers") from None
    return CoverageTotal(*counts)
