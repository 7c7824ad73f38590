"""Micro-benchmarks against the base commit, in one job: ``python -m ops.perf.bench``.

The benchmarks (pytest-benchmark, ``benchmarks/micro/bench_*.py``) run on this machine
against the app code of the base commit (exported with ``git archive`` into a temporary
directory, with this checkout's benchmark files: the base runs HEAD's benchmarks), then
against this checkout with ``--benchmark-compare`` on that run and
``--benchmark-compare-fail=median:N%``. ``--pairs K`` repeats the pair (base, HEAD) K
times, alternating, so that a change in the machine's load hits both sides; a
benchmark's ratio is then the median of its K ratios. Every benchmark is judged by its
ratio HEAD/base of medians -- never by an absolute time, which drifts from machine to
machine and from hour to hour.

The base is ``--base REF``; by default the commit of the uncommitted changes (HEAD) when
the tree has any, else the fork point from ``origin/main`` when HEAD is not on it, else
HEAD's parent. A benchmark the base cannot run (the base lacks what it imports) is a
note, not a failure. Reports go to ``reports/bench/`` (emptied first): pytest-benchmark's
JSON and pytest's log of every run, and ``bench.json``, the verdict.

Exit status (:mod:`ops.core.exits`): 0 no median regressed by more than N%; 1 one did, or
a benchmark failed at HEAD (each named); 2 cannot run (no git, no base commit, no
pytest-benchmark, no benchmarks); 3 inconclusive (no benchmark ran on both sides).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import statistics
import sys
import tarfile
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ops.core import environ
from ops.core.commands import failure_line, find_executable, run
from ops.core.console import Console, program_parser, table
from ops.core.exits import (
    DONE,
    CannotRun,
    CheckFailed,
    Inconclusive,
    OpsError,
    exit_status,
    one_line,
)
from ops.core.git import HINT as GIT_HINT
from ops.core.git import git, has_changes, is_checkout
from ops.project import ROOT

BENCHMARKS = "benchmarks/micro"
BENCHMARK_FILES = "bench_*.py"
MAX_REGRESSION_PERCENT = 10.0
PAIRS = 3
MAIN = "origin/main"
REPORT_DIR = Path("reports") / "bench"
TIMEOUT = 1800.0
# Rounds of at least 0.1 ms: a call of a few microseconds is timed over many iterations,
# not one clock read each.
PYTEST_BENCHMARK_OPTIONS = ("--benchmark-min-time=0.0001",)
# pytest's exit statuses after which a run is judged: passed, some failed, none collected.
JUDGED_EXITS = (0, 1, 5)
FAILURE_WORDS = ("FAILED", "ERROR")
REGRESSION_MARK = "Performance has regressed"  # pytest-benchmark's compare-fail verdict


@dataclass(frozen=True, slots=True)
class Base:
    """The commit the benchmarks are compared with, and why it was chosen."""

    commit: str
    chosen: str


@dataclass(frozen=True, slots=True)
class Options:
    """What one comparison is asked to do."""

    root: Path
    base_ref: str | None
    benchmarks: str
    max_percent: float
    pairs: int
    reports: Path
    extra: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Run:
    """One pytest run of the benchmarks: its medians and what pytest said went wrong."""

    name: str
    code: int
    medians: dict[str, float]
    problems: list[str]
    flagged: bool = False
    """pytest-benchmark's own compare-fail found a regression in this run."""


@dataclass(slots=True)
class Comparison:
    """One benchmark's medians (seconds) in every run on either side."""

    name: str
    base: list[float] = field(default_factory=list)
    head: list[float] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)

    @property
    def ratio(self) -> float | None:
        """The median of its HEAD/base ratios (one per pair that ran it on both sides)."""
        return statistics.median(self.ratios) if self.ratios else None

    def regressed(self, max_percent: float) -> bool:
        """True when HEAD's median is more than ``max_percent`` above the base's."""
        ratio = self.ratio
        return ratio is not None and ratio > 1 + max_percent / 100

    def verdict(self, max_percent: float) -> str:
        """``regressed``, ``faster``, ``ok``, or why it was not compared."""
        ratio = self.ratio
        if ratio is None:
            return "not in base" if self.head else "not at HEAD"
        if self.regressed(max_percent):
            return "regressed"
        return "faster" if ratio < 1 - max_percent / 100 else "ok"

    def line(self) -> str:
        """``name xRATIO (+P%)`` for messages."""
        ratio = self.ratio
        return f"{self.name} x{ratio:.3f} ({(ratio - 1) * 100:+.1f}%)" if ratio else self.name

    def to_dict(self, max_percent: float) -> dict[str, Any]:
        """JSON-ready form: medians in seconds, the ratio, the verdict."""
        return {
            "name": self.name,
            "base_medians_s": self.base,
            "head_medians_s": self.head,
            "ratios": self.ratios,
            "ratio": self.ratio,
            "verdict": self.verdict(max_percent),
        }


def git_program() -> str:
    """The git executable (:class:`~ops.core.commands.ToolNotFound` without one)."""
    return find_executable("git", hint=GIT_HINT)


def commit_of(root: Path, ref: str) -> str | None:
    """The commit ``ref`` names in ``root``, or None when it names none there."""
    done = run([git_program(), "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], cwd=root)
    return done.stdout.strip() if done.ok else None


def resolve_base(root: Path, ref: str | None) -> Base:
    """The base commit: ``ref``, or the default the module's docstring describes."""
    if ref:
        commit = commit_of(root, ref)
        if commit is None:
            raise CannotRun(f"--base {ref}: no such commit here (fetch it first)")
        return Base(commit, f"--base {ref}")
    head = commit_of(root, "HEAD")
    if head is None:
        raise CannotRun(f"{root}: no commit yet, nothing to compare with")
    if has_changes(root):
        return Base(head, "HEAD: the tree has uncommitted changes")
    if commit_of(root, MAIN) is not None:
        fork = git("merge-base", "HEAD", MAIN, cwd=root).stdout.strip()
        if fork != head:
            return Base(fork, f"the fork point from {MAIN}")
    parent = commit_of(root, "HEAD~1")
    if parent is None:
        raise CannotRun(
            "no base commit: HEAD has no parent here (a shallow clone? fetch the history, "
            "e.g. actions/checkout with fetch-depth: 0) -- or pass --base REF"
        )
    return Base(parent, "HEAD's parent")


def export_commit(root: Path, commit: str, target: Path) -> None:
    """The files of ``commit`` (as ``git archive`` exports them) into ``target``."""
    archive = target.with_suffix(".tar")
    git("archive", "--format=tar", f"--output={archive}", commit, cwd=root)
    with tarfile.open(archive) as tar:
        tar.extractall(target, filter="data")
    archive.unlink()


def with_benchmarks_of(tree: Path, root: Path, benchmarks: str) -> None:
    """Replace ``tree``'s benchmarks with ``root``'s: the base runs HEAD's benchmarks."""
    shutil.rmtree(tree / benchmarks, ignore_errors=True)
    shutil.copytree(
        root / benchmarks, tree / benchmarks, ignore=shutil.ignore_patterns("__pycache__")
    )


def pytest_command(options: Options, output: Path, compare: Path | None = None) -> list[str]:
    """pytest over the benchmark files, writing pytest-benchmark's JSON to ``output``;
    with ``compare``, judged against that earlier run's JSON."""
    command = [
        sys.executable, "-m", "pytest", options.benchmarks,
        "-p", "no:cacheprovider", "-o", f"python_files={BENCHMARK_FILES}",
        "-q", "-rfE", "--continue-on-collection-errors",
        "--benchmark-only", f"--benchmark-json={output}", *PYTEST_BENCHMARK_OPTIONS,
    ]  # fmt: skip
    if compare is not None:
        command += [
            f"--benchmark-compare={compare}",
            f"--benchmark-compare-fail=median:{options.max_percent:g}%",
        ]
    return [*command, *options.extra]


def read_medians(path: Path, benchmarks: str) -> dict[str, float]:
    """Median seconds by benchmark (``file::test[param]``) from pytest-benchmark's JSON;
    none when the run wrote no file."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        entries = [(str(b["fullname"]), float(b["stats"]["median"])) for b in data["benchmarks"]]
    except (ValueError, KeyError, TypeError) as error:
        raise CannotRun(f"{path}: not pytest-benchmark's JSON ({one_line(error)})") from None
    prefix = benchmarks.rstrip("/") + "/"
    return {name.removeprefix(prefix): median for name, median in entries}


def problems_in(output: str) -> list[str]:
    """pytest's short-summary lines of the benchmarks that failed or could not run."""
    return [line.strip() for line in output.splitlines() if line.startswith(FAILURE_WORDS)]


def run_benchmarks(
    tree: Path, options: Options, name: str, env: Mapping[str, str], compare: Path | None = None
) -> Run:
    """Run the benchmarks in ``tree`` (its code first on the path), writing ``NAME.json``
    and ``NAME.log`` to the reports directory."""
    output = options.reports / f"{name}.json"
    child = environ.child_env(env, {"PYTHONPATH": str(tree)}, keep=("HOME", "TMPDIR"))
    done = run(pytest_command(options, output, compare), cwd=tree, env=child, timeout=TIMEOUT)
    text = done.stdout + done.stderr
    (options.reports / f"{name}.log").write_text(text, encoding="utf-8")
    if done.code not in JUDGED_EXITS:
        return Run(name, done.code, {}, [failure_line(done.stderr, done.stdout)])
    medians = read_medians(output, options.benchmarks)
    return Run(name, done.code, medians, problems_in(done.stdout), REGRESSION_MARK in text)


def measure(
    options: Options, base: Base, console: Console, env: Mapping[str, str]
) -> tuple[list[Run], list[Run]]:
    """The pairs of runs: the base's, then HEAD's compared with it, ``options.pairs`` times."""
    befores, afters = [], []
    with tempfile.TemporaryDirectory(prefix="bench-base-") as scratch:
        tree = Path(scratch) / "tree"
        export_commit(options.root, base.commit, tree)
        with_benchmarks_of(tree, options.root, options.benchmarks)
        console.say(f"base: {base.commit[:12]} ({base.chosen})")
        for pair in range(1, options.pairs + 1):
            before = run_benchmarks(tree, options, f"base-{pair}", env)
            measured = options.reports / f"{before.name}.json" if before.medians else None
            after = run_benchmarks(options.root, options, f"head-{pair}", env, measured)
            check_ran(after, options)
            console.say(f"  pair {pair}/{options.pairs}: {len(before.medians)} benchmarks at "
                        f"the base, {len(after.medians)} at HEAD")  # fmt: skip
            befores.append(before)
            afters.append(after)
    for problem in befores[0].problems:
        console.say(f"  not measured at the base: {problem} (see base-1.log)")
    return befores, afters


def check_ran(head: Run, options: Options) -> None:
    """Stop when pytest could not run the benchmarks at HEAD at all."""
    if head.code not in JUDGED_EXITS:
        raise CannotRun(
            f"pytest could not run the benchmarks (exit {head.code}): {head.problems[0]}"
        )
    if not (head.medians or head.problems):
        raise CannotRun(f"no benchmarks in {options.benchmarks}/{BENCHMARK_FILES}")


def compare(befores: Sequence[Run], afters: Sequence[Run]) -> list[Comparison]:
    """Every benchmark of any run, HEAD's order first, with its ratio in each pair."""
    found: dict[str, Comparison] = {}
    for before, after in zip(befores, afters, strict=True):
        for name in [*after.medians, *before.medians]:
            found.setdefault(name, Comparison(name))
        for name, median in after.medians.items():
            found[name].head.append(median)
            if before.medians.get(name):
                found[name].ratios.append(median / before.medians[name])
        for name, median in before.medians.items():
            found[name].base.append(median)
    return list(found.values())


def judge(comparisons: Sequence[Comparison], afters: Sequence[Run], max_percent: float) -> str:
    """The outcome; raises :class:`CheckFailed` (a regression, a failure at HEAD) or
    :class:`Inconclusive` (nothing compared)."""
    failures = []
    regressed = [c.line() for c in comparisons if c.regressed(max_percent)]
    if regressed:
        failures.append(f"median regressed by more than {max_percent:g}%: {'; '.join(regressed)}")
    problems = sorted({problem for run in afters for problem in run.problems})
    if problems:
        failures.append(f"failed at HEAD: {'; '.join(problems)}")
    unexplained = [
        run.name for run in afters if run.code == 1 and not run.problems and not run.flagged
    ]
    if unexplained and not failures:
        failures.append(f"pytest failed at HEAD: see {', '.join(f'{n}.log' for n in unexplained)}")
    if failures:
        raise CheckFailed(" -- ".join(failures))
    if not any(c.ratio is not None for c in comparisons):
        raise Inconclusive("no benchmark ran both at the base and at HEAD: nothing compared")
    return f"no median regressed by more than {max_percent:g}%"


HEADERS = ("benchmark", "base median (us)", "HEAD median (us)", "HEAD/base", "verdict")


def rows(comparisons: Sequence[Comparison], max_percent: float) -> list[list[str]]:
    """The table: medians in microseconds (for reading) and ratios (for judging)."""

    def micros(medians: list[float]) -> str:
        return f"{statistics.median(medians) * 1e6:,.1f}" if medians else "-"

    return [
        [
            c.name,
            micros(c.base),
            micros(c.head),
            "-" if c.ratio is None else f"{c.ratio:.3f}",
            c.verdict(max_percent),
        ]
        for c in comparisons
    ]


def summary_markdown(
    title: str, headers: Sequence[str], table_rows: Sequence[Sequence[str]], outcome: str
) -> str:
    """A job summary: ``## title``, the table (text left, figures right), the outcome."""
    align = [
        "---" if index == 0 or index == len(headers) - 1 else "---:"
        for index in range(len(headers))
    ]
    lines = [f"## {title}", "", "| " + " | ".join(headers) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in table_rows]
    return "\n".join([*lines, "", outcome, ""])


def conclude(
    console: Console,
    judge: Callable[[], str],
    result: Mapping[str, Any],
    summary: Callable[[str], str],
) -> int:
    """Judge, then report whatever the outcome -- the job summary, the JSON result with the
    outcome and its exit code -- and only then raise the failure, if there is one."""
    failure: OpsError | None = None
    try:
        outcome = judge()
    except OpsError as error:
        failure, outcome = error, one_line(error)
    console.summary(summary(outcome))
    code = DONE if failure is None else failure.exit_code
    console.result({**result, "outcome": outcome, "exit_code": code})
    if failure is not None:
        raise failure
    console.say(outcome)
    return DONE


def has_pytest_benchmark() -> bool:
    """True when this interpreter (the one that runs pytest) has pytest-benchmark."""
    return importlib.util.find_spec("pytest_benchmark") is not None


def check_can_run(options: Options) -> None:
    """Everything the comparison needs before it starts, each missing piece one line."""
    if options.max_percent < 0:
        raise CannotRun(f"--max-regression {options.max_percent:g}: must be 0 or more")
    if options.pairs < 1:
        raise CannotRun(f"--pairs {options.pairs}: must be 1 or more")
    if not has_pytest_benchmark():
        raise CannotRun("pytest-benchmark is not installed: install the bench dependency group")
    if not is_checkout(options.root):
        raise CannotRun(f"{options.root} is not a git checkout: there is no base commit")
    if not (options.root / options.benchmarks).is_dir():
        raise CannotRun(f"{options.benchmarks}: no such directory in {options.root}")


def compare_commits(options: Options, console: Console, env: Mapping[str, str]) -> int:
    """Measure, compare, report; the exit status (expected failures raise)."""
    shutil.rmtree(options.reports, ignore_errors=True)  # never a stale verdict
    check_can_run(options)
    base = resolve_base(options.root, options.base_ref)
    options.reports.mkdir(parents=True)
    befores, afters = measure(options, base, console, env)
    comparisons = compare(befores, afters)
    table_rows = rows(comparisons, options.max_percent)
    console.say(table(HEADERS, table_rows))
    result: dict[str, Any] = {
        "base": {"commit": base.commit, "chosen": base.chosen},
        "pairs": options.pairs,
        "max_regression_percent": options.max_percent,
        "benchmarks": [c.to_dict(options.max_percent) for c in comparisons],
        "not_measured_at_base": befores[0].problems,
        "flagged_by_pytest_benchmark": [run.name for run in afters if run.flagged],
    }
    return conclude(
        console,
        lambda: judge(comparisons, afters, options.max_percent),
        result,
        lambda outcome: summary_markdown("Micro-benchmarks", HEADERS, table_rows, outcome),
    )


def _parser() -> argparse.ArgumentParser:
    parser = program_parser("python -m ops.perf.bench", __doc__, "reports/bench/")
    parser.add_argument("--base", help="the commit to compare with (default: see above)")
    parser.add_argument(
        "--max-regression",
        type=float,
        default=MAX_REGRESSION_PERCENT,
        metavar="PERCENT",
        help=f"fail when a median grows by more than this (default {MAX_REGRESSION_PERCENT:g})",
    )
    parser.add_argument(
        "--pairs", type=int, default=PAIRS, help=f"base/HEAD runs to alternate (default {PAIRS})"
    )
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout to measure")
    parser.add_argument("--benchmarks", default=BENCHMARKS, help="their directory in the root")
    parser.add_argument("pytest_args", nargs="*", help="after --: more pytest options")
    return parser


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Compare HEAD's benchmarks with the base's; one line and the exit status on failure."""
    args = _parser().parse_args(argv)
    env = environ.current() if env is None else env
    root = args.root.resolve()
    reports = root / REPORT_DIR
    options = Options(
        root,
        args.base,
        args.benchmarks,
        args.max_regression,
        args.pairs,
        reports,
        tuple(args.pytest_args),
    )
    console = Console(as_json=args.json, report=args.report or reports / "bench.json", env=env)
    return exit_status("bench", lambda: compare_commits(options, console, env))


if __name__ == "__main__":
    raise SystemExit(main())
