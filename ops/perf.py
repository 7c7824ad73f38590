"""Load test with thresholds: ``python -m ops.perf [--host URL] [options]``.

Without ``--host`` a seeded server is started on a free port (ops/livecheck).
Runs locust headless, writes CSV and HTML under reports/perf/, then fails --
naming the threshold -- when the failure ratio or the p95 of all requests
exceeds its limit.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ops.livecheck import seeded_server
from ops.project import REPORTS

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
PERF_DIR = REPORTS / "perf"


@dataclass(frozen=True, slots=True)
class Totals:
    """The aggregated row of locust's statistics."""

    requests: int
    failures: int
    p95_ms: float

    @property
    def failure_ratio(self) -> float:
        """Failed requests over all requests."""
        return self.failures / self.requests if self.requests else 1.0


def read_totals(stats_csv: Path) -> Totals:
    """The ``Aggregated`` row of ``<prefix>_stats.csv``."""
    with stats_csv.open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row.get("Name") == "Aggregated":
                return Totals(
                    int(row["Request Count"]), int(row["Failure Count"]), float(row["95%"])
                )
    raise ValueError(f"{stats_csv}: no Aggregated row")


def violations(totals: Totals, max_failure_ratio: float, max_p95_ms: float) -> list[str]:
    """Every threshold the run broke, one line each."""
    problems = []
    if totals.requests == 0:
        problems.append("no requests were made")
    if totals.failure_ratio > max_failure_ratio:
        problems.append(
            f"failure ratio {totals.failure_ratio:.2%} exceeds {max_failure_ratio:.2%} "
            f"({totals.failures} of {totals.requests})"
        )
    if totals.p95_ms > max_p95_ms:
        problems.append(f"p95 {totals.p95_ms:g} ms exceeds {max_p95_ms:g} ms")
    return problems


def locust_command(host: str, args: argparse.Namespace) -> list[str]:
    """The headless locust invocation."""
    prefix = PERF_DIR / "locust"
    return [
        str(Path(sys.executable).parent / "locust"), "-f", str(LOCUSTFILE), "--headless",
        "--host", host, "--users", str(args.users), "--spawn-rate", str(args.spawn_rate),
        "--run-time", args.run_time, "--csv", str(prefix), "--html", str(PERF_DIR / "report.html"),
        "--only-summary", "--stop-timeout", "5",
    ]  # fmt: skip


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ops.perf", description=__doc__.splitlines()[0])
    parser.add_argument("--host", help="base URL to load (default: start a seeded local server)")
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--spawn-rate", type=float, default=10)
    parser.add_argument("--run-time", default="15s")
    parser.add_argument("--max-failure-ratio", type=float, default=0.01)
    parser.add_argument("--max-p95-ms", type=float, default=500)
    return parser


def run(host: str, args: argparse.Namespace) -> int:
    """Load ``host``, then judge the totals; returns the exit status."""
    PERF_DIR.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(locust_command(host, args), check=False)  # noqa: S603
    stats = PERF_DIR / "locust_stats.csv"
    if not stats.exists():
        print(f"error: locust wrote no statistics (exit {result.returncode})", file=sys.stderr)
        return 1
    totals = read_totals(stats)
    problems = violations(totals, args.max_failure_ratio, args.max_p95_ms)
    print(
        f"{totals.requests} requests, {totals.failure_ratio:.2%} failed, p95 {totals.p95_ms:g} ms"
    )
    for problem in problems:
        print(f"threshold broken: {problem}", file=sys.stderr)
    return 1 if problems else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the load test against ``--host`` or a fresh local server."""
    args = _parser().parse_args(argv)
    if args.host:
        return run(args.host, args)
    with seeded_server() as server:
        return run(server.url, args)


if __name__ == "__main__":
    raise SystemExit(main())
