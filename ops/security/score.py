"""The 0-100 security score the summary prints.

Only unsuppressed findings count::

    penalty = 25 * critical + 10 * high + 3 * medium + min(10, low)
            + 10 * (gates skipped, not run, or failed without a finding)
            + 5 * (checks skipped inside a gate that ran)
    score   = max(0, 100 - penalty)

Informational findings cost nothing; low findings together cost at most 10.
The score describes; it does not gate. The gate is: no unsuppressed high or
critical finding, no failed gate, no expired suppression.
"""

from __future__ import annotations

from collections.abc import Mapping

from ops.security.findings import Severity

WEIGHTS = {
    Severity.CRITICAL: 25,
    Severity.HIGH: 10,
    Severity.MEDIUM: 3,
    Severity.LOW: 1,
    Severity.INFO: 0,
}
LOW_CAP = 10
SKIPPED_GATE = 10
SKIPPED_CHECK = 5


def penalty(counts: Mapping[Severity, int], skipped_gates: int, skipped_checks: int) -> int:
    """Points lost to unsuppressed findings and to what could not be checked."""
    lost = sum(WEIGHTS[severity] * counts.get(severity, 0) for severity in WEIGHTS)
    lost -= max(0, counts.get(Severity.LOW, 0) - LOW_CAP)
    return lost + SKIPPED_GATE * skipped_gates + SKIPPED_CHECK * skipped_checks


def score(counts: Mapping[Severity, int], skipped_gates: int, skipped_checks: int) -> int:
    """The score: 100 minus the penalty, never below 0."""
    return max(0, 100 - penalty(counts, skipped_gates, skipped_checks))
