"""Load test with thresholds: ``python -m ops.perf [--host URL] [options]``.

Without ``--host`` a seeded server is started on a free port
(:func:`ops.live.server.seeded_server`) and the load logs in as a demo trader;
with ``--host`` the credentials come from ``PERF_USER`` and ``PERF_PASSWORD``.
Runs locust headless, writes CSV and HTML under reports/perf/, then fails --
naming the threshold -- when the failure ratio or the p95 of all requests
exceeds its limit. Exit status: 0 passed, 1 a threshold broken, 2 could not run.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from app.services.seed import DEMO_PASSWORD, DEMO_TRADER
from ops.core import environ
from ops.core.commands import find_executable, run
from ops.core.exits import CannotRun, OpsError, one_line
from ops.live.server import seeded_server
from ops.project import REPORTS, ROOT

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
PERF_DIR = REPORTS / "perf"
CREDENTIALS = ("PERF_USER", "PERF_PASSWORD")


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
                # locust writes N/A for a percentile of nothing that succeeded
                p95 = 0.0 if row["95%"] == "N/A" else float(row["95%"])
                return Totals(int(row["Request Count"]), int(row["Failure Count"]), p95)
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
        find_executable("locust", hint="install the perf dependency group"),
        "-f", str(LOCUSTFILE), "--headless",
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


def load(host: str, args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """Load ``host`` as the user ``env`` names, then judge the totals; the exit status."""
    missing = [name for name in CREDENTIALS if not env.get(name)]
    if missing:
        raise CannotRun(f"{missing[0]}: required to log in to {host}")
    PERF_DIR.mkdir(parents=True, exist_ok=True)
    stats = PERF_DIR / "locust_stats.csv"
    stats.unlink(missing_ok=True)  # never judge an earlier run's figures
    # The locustfile imports the API client from this checkout.
    settings = {"PYTHONPATH": str(ROOT), **{name: env[name] for name in CREDENTIALS}}
    child = environ.child_env(env, settings, keep=("HOME",))
    done = run(locust_command(host, args), env=child, show_output=True)
    if not stats.exists():
        raise CannotRun(f"locust wrote no statistics (exit {done.code})")
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
    env = environ.current()
    try:
        if args.host:
            return load(args.host, args, env)
        demo = {"PERF_USER": DEMO_TRADER, "PERF_PASSWORD": DEMO_PASSWORD}
        with seeded_server(env) as server:
            return load(server.url, args, {**env, **demo})
    except OpsError as error:
        print(f"perf: {one_line(error)}", file=sys.stderr)
        return error.exit_code
