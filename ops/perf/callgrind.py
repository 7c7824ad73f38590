"""Instruction counts of the micro-benchmark cases under callgrind, against a committed
baseline: ``python -m ops.perf.callgrind [--update-baseline]``.

Timings drift with the machine's load; the number of instructions a call executes does
not. A driver (``benchmarks/micro/count_instructions.py``, through :func:`drive`) builds
every case of ``benchmarks/micro/cases.py``, calls it once to warm it, then calls it N
times inside one ``functools.reduce`` -- the marker: callgrind collects only while the
interpreter's C function ``functools_reduce`` runs (``--toggle-collect``) and writes one
profile after each (``--dump-after``), so interpreter start-up, imports and set-up are
never counted. Instructions per call = the profile's total ``Ir`` / N.

The counts are compared with ``benchmarks/instructions.json`` (recorded by
``--update-baseline``, committed): a case more than ``--tolerance`` percent (default 2)
above its baseline fails. Counts depend on the interpreter's build and the C library,
so a baseline recorded on another build is not judged (inconclusive) -- record one on
the machine type CI runs on. The raw profiles stay in ``reports/callgrind/`` for
``callgrind_annotate``.

Exit status (:mod:`ops.core.exits`): 0 within tolerance (or the baseline was written);
1 a case above its baseline + tolerance (named); 2 cannot run (no valgrind, a bad
baseline file, the marker not seen); 3 inconclusive (a case without a baseline, a
baseline of another build).
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import platform
import re
import shutil
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ops.core import environ
from ops.core.commands import Completed, describe, failure_line, find_executable, run
from ops.core.console import Console, program_parser, table, write_atomically
from ops.core.exits import DONE, CannotRun, CheckFailed, Inconclusive, exit_status, one_line
from ops.perf.bench import conclude, summary_markdown
from ops.project import REPORTS, ROOT

MARKER = "functools_reduce"
DRIVER = ROOT / "benchmarks" / "micro" / "count_instructions.py"
BASELINE = ROOT / "benchmarks" / "instructions.json"
REPORT_DIR = REPORTS / "callgrind"
OUT_FILE = "callgrind.out"
ITERATIONS = 10
TOLERANCE_PERCENT = 2.0
TIMEOUT = 1800.0
VALGRIND_HINT = "install valgrind (apt-get install valgrind), or set $VALGRIND"
# What makes counts comparable: the same interpreter build, on the same C library.
COMPARED = ("python", "compiler", "machine", "libc")
# A profile's total cost: its "totals:" line (older callgrinds wrote only "summary:").
_TOTALS = (
    re.compile(r"^totals:\s+(\d+)", re.MULTILINE),
    re.compile(r"^summary:\s+(\d+)", re.MULTILINE),
)

Workload = Callable[[], object]
Cases = Mapping[str, Callable[[], Workload]]


def build_environment() -> dict[str, str]:
    """What the counts of this interpreter depend on: its build and the C library."""
    libc, libc_version = platform.libc_ver()
    return {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "compiler": platform.python_compiler(),
        "machine": platform.machine(),
        "libc": f"{libc} {libc_version}".strip(),
    }


def _call(workload: Workload) -> Callable[[object, object], object]:
    return lambda _accumulated, _index: workload()


def drive(cases: Cases, argv: Sequence[str] | None = None) -> int:
    """The driver's main: build the named cases (default all), warm each, then run each
    ``--iterations`` times inside one ``functools.reduce`` (the measured part); print
    what ran, as one JSON line."""
    parser = argparse.ArgumentParser(description="run cases for callgrind")
    parser.add_argument("--iterations", type=int, default=ITERATIONS)
    parser.add_argument("names", nargs="*")
    args = parser.parse_args(argv)
    names = args.names or list(cases)
    unknown = [name for name in names if name not in cases]
    if unknown:
        print(
            f"unknown case(s) {', '.join(unknown)}: known are {', '.join(cases)}", file=sys.stderr
        )
        return 2
    for name in names:
        workload = cases[name]()
        workload()
        gc.collect()
        functools.reduce(_call(workload), range(args.iterations), None)
    print(
        json.dumps(
            {"cases": names, "iterations": args.iterations, "environment": build_environment()}
        )
    )
    return 0


@dataclass(frozen=True, slots=True)
class Measured:
    """Instructions per call of each case, and the build they were counted on."""

    instructions: dict[str, int]
    iterations: int
    environment: dict[str, str]


def valgrind_command(
    valgrind: str, out_file: Path, driver: Path, iterations: int, names: Sequence[str]
) -> list[str]:
    """callgrind counting only inside the marker, one profile per marker call."""
    return [
        valgrind, "--tool=callgrind", "-q", "--collect-atstart=no",
        f"--toggle-collect={MARKER}", f"--dump-after={MARKER}",
        f"--callgrind-out-file={out_file}",
        sys.executable, str(driver), f"--iterations={iterations}", *names,
    ]  # fmt: skip


def driver_env(env: Mapping[str, str], root: Path) -> dict[str, str]:
    """The driver's environment: PATH, this checkout importable, a fixed hash seed -- and
    nothing else, coverage's variables least of all (tracing would be counted)."""
    return {
        "PATH": env.get("PATH") or "/usr/local/bin:/usr/bin:/bin",
        "PYTHONPATH": str(root),
        "PYTHONHASHSEED": "0",
    }


def profile_totals(out_file: Path) -> list[int]:
    """The total ``Ir`` of each profile callgrind dumped (``OUT.1``, ``OUT.2``, ...)."""
    parts = sorted(
        (int(path.name.rsplit(".", 1)[1]), path)
        for path in out_file.parent.glob(f"{out_file.name}.*")
        if path.name.rsplit(".", 1)[1].isdigit()
    )
    totals = []
    for _number, path in parts:
        text = path.read_text(encoding="utf-8", errors="replace")
        found = next((m for pattern in _TOTALS if (m := pattern.search(text))), None)
        if found is None:
            raise CannotRun(f"{path}: no totals line (not a callgrind profile?)")
        totals.append(int(found.group(1)))
    return totals


def parse_driver_output(stdout: str) -> dict[str, Any]:
    """The driver's last line: what it ran, how often, on which build."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    try:
        report = json.loads(lines[-1]) if lines else None
    except ValueError:
        report = None
    if not isinstance(report, dict) or not {"cases", "environment"} <= report.keys():
        raise CannotRun("the driver printed no report of what it ran")
    return report


def _run_driver(command: Sequence[str], root: Path, env: Mapping[str, str]) -> Completed:
    done = run(command, cwd=root, env=env, timeout=TIMEOUT)
    if not done.ok:
        reason = failure_line(done.stderr, done.stdout)
        raise CannotRun(f"the driver failed ({describe(command, 2)}, exit {done.code}): {reason}")
    return done


def count(
    valgrind: str,
    driver: Path,
    names: Sequence[str],
    iterations: int,
    out_dir: Path,
    env: Mapping[str, str],
    root: Path = ROOT,
) -> Measured:
    """Run the driver under callgrind; instructions per call of each case."""
    out_dir.mkdir(parents=True, exist_ok=True)
    out_file = out_dir / OUT_FILE
    child = driver_env(env, root)
    # Once without valgrind first: every module's bytecode is then read from its cache,
    # never compiled in the counted run -- compiling leaves the heap in another state,
    # and the counts 0.1-0.3% off.
    _run_driver([sys.executable, str(driver), "--iterations=1", *names], root, child)
    command = valgrind_command(valgrind, out_file, driver, iterations, names)
    done = _run_driver(command, root, child)
    report = parse_driver_output(done.stdout)
    ran: list[str] = report["cases"]
    totals = profile_totals(out_file)
    if len(totals) != len(ran) or not all(totals):
        raise CannotRun(
            f"callgrind recorded {len(totals)} measured parts for {len(ran)} cases: the marker "
            f"{MARKER} must be visible to valgrind (an interpreter built with symbols) and "
            "called by nothing but the driver"
        )
    per_call = {name: round(total / iterations) for name, total in zip(ran, totals, strict=True)}
    return Measured(per_call, iterations, dict(report["environment"]))


def read_baseline(path: Path) -> Measured | None:
    """The committed baseline, or None when there is none yet."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        instructions = {str(name): int(value) for name, value in data["instructions"].items()}
        return Measured(instructions, int(data["iterations"]), dict(data["environment"]))
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise CannotRun(f"{path}: not an instruction-count baseline ({one_line(error)})") from None


def updated(path: Path, measured: Measured) -> Measured:
    """The new baseline: ``measured``, plus the cases it did not count when the existing
    baseline is of the same build (updating one case keeps the others)."""
    existing = read_baseline(path)
    if existing is None or other_build(measured, existing):
        return measured
    return Measured(
        {**existing.instructions, **measured.instructions},
        measured.iterations,
        measured.environment,
    )


def write_baseline(path: Path, measured: Measured) -> None:
    """Record ``measured`` as the baseline (atomically)."""
    document = {
        "about": "instructions per call (callgrind Ir) of benchmarks/micro/cases.py; "
        "rewritten by `python -m ops.perf.callgrind --update-baseline`",
        "environment": measured.environment,
        "iterations": measured.iterations,
        "instructions": measured.instructions,
    }
    write_atomically(path, json.dumps(document, indent=2) + "\n")


def _number(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


@dataclass(frozen=True, slots=True)
class Judged:
    """One case against its baseline."""

    name: str
    instructions: int | None
    baseline: int | None

    @property
    def change(self) -> float | None:
        """Relative change from the baseline (0.05 is 5% more instructions)."""
        if self.instructions is None or not self.baseline:
            return None
        return self.instructions / self.baseline - 1

    def verdict(self, tolerance: float) -> str:
        """``above``, ``below``, ``ok``, ``no baseline`` or ``not measured``."""
        change = self.change
        if change is None:
            return "no baseline" if self.instructions is not None else "not measured"
        if change > tolerance / 100:
            return "above"
        return "below" if change < -tolerance / 100 else "ok"

    def to_dict(self, tolerance: float) -> dict[str, Any]:
        """JSON-ready form, with the verdict."""
        return {
            "name": self.name,
            "instructions": self.instructions,
            "baseline": self.baseline,
            "change": self.change,
            "verdict": self.verdict(tolerance),
        }

    def line(self) -> str:
        """``name: N instructions per call, baseline B (+P%)``."""
        change = self.change
        shown = "" if change is None else f" ({change * 100:+.2f}%)"
        counted, baseline = _number(self.instructions), _number(self.baseline)
        return f"{self.name}: {counted} instructions per call, baseline {baseline}{shown}"


def judge_cases(measured: Measured, baseline: Measured) -> list[Judged]:
    """Every measured case against the baseline, then the baseline's unmeasured ones."""
    judged = [
        Judged(name, value, baseline.instructions.get(name))
        for name, value in measured.instructions.items()
    ]
    judged += [
        Judged(name, None, value)
        for name, value in baseline.instructions.items()
        if name not in measured.instructions
    ]
    return judged


def other_build(measured: Measured, baseline: Measured) -> str:
    """How the measuring build differs from the baseline's ("" when it does not)."""
    differences = [
        f"{key} {baseline.environment.get(key)!r} there, {measured.environment.get(key)!r} here"
        for key in COMPARED
        if measured.environment.get(key) != baseline.environment.get(key)
    ]
    return "; ".join(differences)


def verdict(
    judged: Sequence[Judged], measured: Measured, baseline: Measured, tolerance: float
) -> str:
    """The outcome; raises :class:`CheckFailed` (a case above tolerance) or
    :class:`Inconclusive` (another build, a case without a baseline)."""
    differs = other_build(measured, baseline)
    if differs:
        raise Inconclusive(
            f"the baseline was recorded on another build ({differs}): "
            "run --update-baseline on the machine type CI runs on"
        )
    above = [j.line() for j in judged if j.verdict(tolerance) == "above"]
    if above:
        raise CheckFailed(f"instructions above the baseline + {tolerance:g}%: {'; '.join(above)}")
    missing = [j.name for j in judged if j.verdict(tolerance) == "no baseline"]
    if missing:
        raise Inconclusive(
            f"no baseline for {', '.join(missing)}: run --update-baseline and commit it"
        )
    return f"every case within {tolerance:g}% of its baseline"


HEADERS = ("case", "instructions/call", "baseline", "change", "verdict")


def rows(judged: Sequence[Judged], tolerance: float) -> list[list[str]]:
    """The table of counts."""
    return [
        [
            j.name,
            _number(j.instructions),
            _number(j.baseline),
            "-" if j.change is None else f"{j.change * 100:+.2f}%",
            j.verdict(tolerance),
        ]
        for j in judged
    ]


@dataclass(frozen=True, slots=True)
class Options:
    """What one count is asked to do."""

    driver: Path
    baseline: Path
    names: tuple[str, ...]
    iterations: int
    tolerance: float
    update: bool
    out_dir: Path
    root: Path = ROOT


def check_options(options: Options) -> None:
    """Bad numbers are one line each."""
    if options.iterations < 1:
        raise CannotRun(f"--iterations {options.iterations}: must be 1 or more")
    if options.tolerance < 0:
        raise CannotRun(f"--tolerance {options.tolerance:g}: must be 0 or more")


def record(options: Options, measured: Measured, console: Console) -> int:
    """Write ``measured`` as the baseline."""
    write_baseline(options.baseline, updated(options.baseline, measured))
    counted = [[name, _number(value)] for name, value in measured.instructions.items()]
    console.say(table(("case", "instructions/call"), counted))
    console.result({"written": str(options.baseline), "instructions": measured.instructions})
    console.say(f"wrote {options.baseline}")
    return DONE


def compare(options: Options, measured: Measured, baseline: Measured, console: Console) -> int:
    """Judge ``measured`` against ``baseline``; report; raise when it fails."""
    judged = judge_cases(measured, baseline)
    table_rows = rows(judged, options.tolerance)
    console.say(table(HEADERS, table_rows))
    for below in (j for j in judged if j.verdict(options.tolerance) == "below"):
        console.say(f"note: {below.name} runs fewer instructions: --update-baseline keeps the gain")
    result = {
        "tolerance_percent": options.tolerance,
        "environment": measured.environment,
        "cases": [j.to_dict(options.tolerance) for j in judged],
    }
    return conclude(
        console,
        lambda: verdict(judged, measured, baseline, options.tolerance),
        result,
        lambda outcome: summary_markdown("Instruction counts", HEADERS, table_rows, outcome),
    )


def count_and_judge(options: Options, console: Console, env: Mapping[str, str]) -> int:
    """Count, then record or compare; the exit status (expected failures raise)."""
    shutil.rmtree(options.out_dir, ignore_errors=True)  # never a stale report
    check_options(options)
    valgrind = find_executable("valgrind", hint=VALGRIND_HINT, env=env, variable="VALGRIND")
    if not options.driver.is_file():
        raise CannotRun(f"{options.driver}: no such driver")
    baseline = None if options.update else read_baseline(options.baseline)
    if baseline is None and not options.update:
        raise CannotRun(f"{options.baseline}: no baseline yet: run --update-baseline, commit it")
    console.say(f"counting the instructions of {', '.join(options.names) or 'every case'} ...")
    measured = count(
        valgrind,
        options.driver,
        options.names,
        options.iterations,
        options.out_dir,
        env,
        options.root,
    )
    if baseline is None:
        return record(options, measured, console)
    return compare(options, measured, baseline, console)


def _parser() -> argparse.ArgumentParser:
    parser = program_parser("python -m ops.perf.callgrind", __doc__, "in --profiles")
    parser.add_argument(
        "--update-baseline", action="store_true", help="record the counts as the baseline"
    )
    parser.add_argument("--baseline", type=Path, default=BASELINE, help="the baseline file")
    parser.add_argument(
        "--tolerance",
        type=float,
        default=TOLERANCE_PERCENT,
        metavar="PERCENT",
        help=f"allowed increase (default {TOLERANCE_PERCENT:g})",
    )
    parser.add_argument(
        "--iterations",
        type=int,
        default=ITERATIONS,
        help=f"calls counted per case (default {ITERATIONS})",
    )
    parser.add_argument(
        "--driver", type=Path, default=DRIVER, help="the script that runs the cases"
    )
    parser.add_argument(
        "--profiles", type=Path, default=REPORT_DIR, help="where callgrind's profiles go"
    )
    parser.add_argument("names", nargs="*", help="the cases to count (default all)")
    return parser


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Count the cases' instructions and judge or record them; one line on failure."""
    args = _parser().parse_args(argv)
    env = environ.current() if env is None else env
    options = Options(
        driver=args.driver.resolve(),
        baseline=args.baseline,
        names=tuple(args.names),
        iterations=args.iterations,
        tolerance=args.tolerance,
        update=args.update_baseline,
        out_dir=args.profiles,
    )
    report = args.report or args.profiles / "callgrind.json"
    console = Console(as_json=args.json, report=report, env=env)
    return exit_status("callgrind", lambda: count_and_judge(options, console, env))


if __name__ == "__main__":
    raise SystemExit(main())
