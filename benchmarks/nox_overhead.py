"""How much does nox cost on top of running the suite directly?

Measures, in one run, the unit+API suite of the ``tests`` session:

1. bare ``pytest`` in the session's ready environment;
2. warm ``nox -R -s tests-3.11 -- --no-coverage`` (reuse, no install: the same pytest command);
3. cold ``nox -s tests-3.11 -- --no-coverage`` (environment deleted first: create + install);
4. bare ``coverage run -m pytest`` and warm ``nox -R -s tests-3.11`` (the session's
   default, which measures coverage), for the cost of measuring.

Prints each median time and the ratios. Goals: warm within 1.15x of bare pytest;
cold within bare pytest + 15 s.

    python benchmarks/nox_overhead.py [--repeat N] [--python 3.11]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys

from timing import ROOT, median, timed

SUITE = ["tests/unit", "tests/api"]


def main() -> int:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--python", default="3.11")
    args = parser.parse_args()

    nox = [sys.executable, "-m", "nox"]
    session = f"tests-{args.python}"
    venv = ROOT / ".nox" / session.replace(".", "-")
    python = str(venv / "bin" / "python")
    env = {**os.environ, "COVERAGE_FILE": str(ROOT / "reports" / "coverage" / ".coverage")}

    print(f"preparing {session} ...", flush=True)
    timed([*nox, "-s", session, "--install-only"])

    bare = median([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *SUITE], args.repeat)
    warm = median([*nox, "-R", "-s", session, "--", "--no-coverage", "-q", *SUITE], args.repeat)
    cold_runs = []
    for _ in range(args.repeat):
        shutil.rmtree(venv, ignore_errors=True)
        cold_runs.append(timed([*nox, "-s", session, "--", "--no-coverage", "-q", *SUITE]))
    cold = statistics.median(cold_runs)
    bare_cov = median(
        [python, "-m", "coverage", "run", "-m", "pytest", "-q", *SUITE], args.repeat, env
    )
    warm_cov = median([*nox, "-R", "-s", session, "--", "-q", *SUITE], args.repeat)

    rows = [
        ("bare pytest", bare, "1.00x"),
        ("warm nox -R (no coverage)", warm, f"{warm / bare:.2f}x  (goal <= 1.15x)"),
        ("cold nox (no coverage)", cold, f"bare + {cold - bare:.1f} s  (goal <= +15 s)"),
        ("bare coverage run -m pytest", bare_cov, f"{bare_cov / bare:.2f}x"),
        (
            "warm nox -R (with coverage)",
            warm_cov,
            f"{warm_cov / bare_cov:.2f}x of bare coverage",
        ),
    ]
    print(f"\n{'run':<34}{'seconds':>9}  ratio")
    for name, seconds, ratio in rows:
        print(f"{name:<34}{seconds:>9.1f}  {ratio}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
