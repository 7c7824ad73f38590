"""Instruction counts: callgrind's profiles read, each count judged against its baseline,
every way the gate cannot run said in one line -- and one real count under valgrind."""

from __future__ import annotations

import importlib.util
import json
import textwrap
from functools import partial
from pathlib import Path

import pytest

from ops.core.exits import CannotRun, CheckFailed, Inconclusive
from ops.perf import callgrind
from ops.perf.callgrind import Measured, judge_cases, verdict
from ops.project import ROOT
from tests.support.needs import program

BUILD = callgrind.build_environment()


def measured(**counts: int) -> Measured:
    return Measured(dict(counts), 10, dict(BUILD))


def test_a_count_above_baseline_and_tolerance_fails_naming_the_function() -> None:
    baseline = measured(match=1_000_000, fingerprint=60_000)
    now = measured(match=1_030_000, fingerprint=60_500)  # +3% and +0.8%

    with pytest.raises(CheckFailed) as failed:
        verdict(judge_cases(now, baseline), now, baseline, tolerance=2)

    assert str(failed.value) == (
        "instructions above the baseline + 2%: "
        "match: 1,030,000 instructions per call, baseline 1,000,000 (+3.00%)"
    )


def test_counts_within_tolerance_pass_and_fewer_are_noted() -> None:
    baseline = measured(match=1_000_000, risk=25_000)
    now = measured(match=1_019_000, risk=20_000)
    judged = judge_cases(now, baseline)

    assert verdict(judged, now, baseline, tolerance=2) == "every case within 2% of its baseline"
    assert [j.verdict(2) for j in judged] == ["ok", "below"]


def test_a_case_without_a_baseline_is_inconclusive() -> None:
    baseline = measured(match=1_000_000, retired=5)
    now = measured(match=1_000_000, brand_new=42)
    judged = judge_cases(now, baseline)

    assert [(j.name, j.verdict(2)) for j in judged] == [
        ("match", "ok"),
        ("brand_new", "no baseline"),
        ("retired", "not measured"),
    ]
    with pytest.raises(Inconclusive, match="no baseline for brand_new: run --update-baseline"):
        verdict(judged, now, baseline, tolerance=2)


def test_a_baseline_of_another_build_is_not_judged() -> None:
    baseline = Measured({"match": 1}, 10, {**BUILD, "python": "CPython 3.12.1"})
    now = measured(match=2)

    with pytest.raises(Inconclusive) as inconclusive:
        verdict(judge_cases(now, baseline), now, baseline, tolerance=2)

    assert "recorded on another build (python 'CPython 3.12.1' there" in str(inconclusive.value)


def test_profiles_are_read_in_dump_order(tmp_path: Path) -> None:
    out = tmp_path / "callgrind.out"
    for number, total in [(1, 100), (2, 250), (10, 7)]:
        (tmp_path / f"callgrind.out.{number}").write_text(
            f"events: Ir\nsummary: 1\ntotals: {total}\n"
        )
    out.write_text("totals: 0\n")  # what ran after the last dump: never a case

    assert callgrind.profile_totals(out) == [100, 250, 7]

    (tmp_path / "callgrind.out.11").write_text("not a profile\n")
    with pytest.raises(CannotRun, match=r"callgrind.out.11: no totals line"):
        callgrind.profile_totals(out)


@pytest.mark.parametrize(
    "content",
    ["not json", '{"instructions": {"x": "many"}, "iterations": 1, "environment": {}}', "[]"],
)
def test_a_malformed_baseline_cannot_run(tmp_path: Path, content: str) -> None:
    path = tmp_path / "instructions.json"
    path.write_text(content)
    with pytest.raises(CannotRun, match=r"instructions\.json: not an instruction-count baseline"):
        callgrind.read_baseline(path)


def test_updating_some_cases_keeps_the_others(tmp_path: Path) -> None:
    path = tmp_path / "instructions.json"
    callgrind.write_baseline(path, measured(match=10, risk=20))

    callgrind.write_baseline(path, callgrind.updated(path, measured(risk=25)))

    assert callgrind.read_baseline(path) == measured(match=10, risk=25)


def test_the_driver_runs_each_case_inside_the_marker(capsys: pytest.CaptureFixture[str]) -> None:
    calls: list[str] = []
    cases = {
        "one": lambda: partial(calls.append, "one"),
        "two": lambda: partial(calls.append, "two"),
    }

    assert callgrind.drive(cases, ["--iterations", "3", "two"]) == 0

    assert calls == ["two"] * 4  # warmed once, then counted three times
    report = callgrind.parse_driver_output(capsys.readouterr().out)
    assert report == {"cases": ["two"], "iterations": 3, "environment": BUILD}
    assert callgrind.drive(cases, ["three"]) == 2
    assert "unknown case(s) three: known are one, two" in capsys.readouterr().err


def test_a_driver_that_reports_nothing_cannot_run() -> None:
    with pytest.raises(CannotRun, match="the driver printed no report of what it ran"):
        callgrind.parse_driver_output("some output\n")


def test_missing_valgrind_cannot_run_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--profiles", str(tmp_path / "profiles"), "--baseline", str(tmp_path / "b.json")]
    assert callgrind.main(args, env={"PATH": str(tmp_path)}) == 2
    assert capsys.readouterr().err == (
        "callgrind: valgrind not found: install valgrind (apt-get install valgrind), "
        "or set $VALGRIND\n"
    )


def test_bad_options_and_a_missing_baseline_cannot_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    valgrind = tmp_path / "valgrind"
    valgrind.write_text("#!/bin/sh\nexit 0\n")
    valgrind.chmod(0o755)
    env = {"PATH": "/usr/bin:/bin", "VALGRIND": str(valgrind)}
    common = ["--profiles", str(tmp_path / "profiles")]

    assert callgrind.main([*common, "--iterations", "0"], env=env) == 2
    assert callgrind.main([*common, "--tolerance", "-1"], env=env) == 2
    assert callgrind.main([*common, "--baseline", str(tmp_path / "none.json")], env=env) == 2
    assert callgrind.main([*common, "--update-baseline", "--driver", "nope.py"], env=env) == 2
    assert capsys.readouterr().err.splitlines() == [
        "callgrind: --iterations 0: must be 1 or more",
        "callgrind: --tolerance -1: must be 0 or more",
        f"callgrind: {tmp_path / 'none.json'}: no baseline yet: run --update-baseline, commit it",
        f"callgrind: {Path('nope.py').resolve()}: no such driver",
    ]


DRIVER = """\
from functools import partial
from pathlib import Path

from ops.perf.callgrind import drive

LOOPS = int(Path(__file__).with_name("loops.txt").read_text())
CASES = {
    "steady": lambda: partial(sum, range(200)),
    "work": lambda: partial(sum, range(LOOPS)),
}

if __name__ == "__main__":
    raise SystemExit(drive(CASES))
"""


@pytest.mark.slow
def test_a_planted_slowdown_fails_naming_the_function_under_valgrind(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    program("valgrind", "install valgrind (apt-get install valgrind)")
    driver = tmp_path / "driver.py"
    driver.write_text(textwrap.dedent(DRIVER))
    (tmp_path / "loops.txt").write_text("200")
    baseline = tmp_path / "instructions.json"
    args = ["--driver", str(driver), "--baseline", str(baseline), "--iterations", "2"]
    args += ["--profiles", str(tmp_path / "profiles")]

    assert callgrind.main([*args, "--update-baseline"]) == 0
    recorded = json.loads(baseline.read_text())["instructions"]
    assert recorded["steady"] == pytest.approx(recorded["work"], rel=0.02)

    (tmp_path / "loops.txt").write_text("400")  # twice the work in one function
    assert callgrind.main(args) == 1

    error = capsys.readouterr().err.strip()
    assert error.startswith("callgrind: instructions above the baseline + 2%: work: ")
    assert "steady" not in error
    result = json.loads((tmp_path / "profiles" / "callgrind.json").read_text())
    assert [(case["name"], case["verdict"]) for case in result["cases"]] == [
        ("steady", "ok"),
        ("work", "above"),
    ]


def test_the_committed_baseline_counts_every_case() -> None:
    spec = importlib.util.spec_from_file_location("cases", ROOT / "benchmarks/micro/cases.py")
    assert spec is not None
    assert spec.loader is not None
    cases = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cases)

    baseline = callgrind.read_baseline(callgrind.BASELINE)

    assert baseline is not None
    assert sorted(baseline.instructions) == sorted(cases.CASES), "run --update-baseline"
