"""Timing whole commands for the benchmarks: one run, or the median of several.

A benchmark measures a command against its baseline in the same run; a command that
fails ends the benchmark with its reason (measuring a failure would mean nothing).
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ops.core.commands import failure_line, run  # noqa: E402 - after the path is set


def timed(command: Sequence[str], env: Mapping[str, str] | None = None) -> float:
    """Wall-clock seconds of one run of ``command`` from the repository; exits if it fails."""
    started = time.perf_counter()
    done = run(command, cwd=ROOT, env=env, timeout=3600)
    elapsed = time.perf_counter() - started
    if not done.ok:
        reason = failure_line(done.stderr, done.stdout)
        sys.exit(f"failed ({done.code}): {' '.join(command)}: {reason}")
    return elapsed


def median(command: Sequence[str], repeat: int, env: Mapping[str, str] | None = None) -> float:
    """The median of ``repeat`` timed runs."""
    return statistics.median(timed(command, env) for _ in range(repeat))
