"""The micro-benchmark gate: HEAD against the base commit by ratios of medians, the base
chosen as documented, every way it cannot run said in one line -- and one real comparison
of two commits with a slow-down planted in one function."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ops.core.exits import CannotRun, CheckFailed, Inconclusive
from ops.core.git import git
from ops.perf import bench
from ops.perf.bench import Run, compare, judge
from tests.support.needs import missing

A, B = "bench_x.py::test_a", "bench_x.py::test_b"


def ran(name: str, medians: dict[str, float], *problems: str, code: int = 0) -> Run:
    return Run(name, code, medians, list(problems))


def test_a_median_beyond_the_limit_fails_naming_the_benchmark() -> None:
    befores = [ran("base-1", {A: 1.0e-3, B: 2.0e-3})]
    afters = [ran("head-1", {A: 1.5e-3, B: 2.1e-3}, code=1)]  # +50% and +5%
    comparisons = compare(befores, afters)

    with pytest.raises(CheckFailed) as failed:
        judge(comparisons, afters, max_percent=10)

    assert (
        str(failed.value) == "median regressed by more than 10%: bench_x.py::test_a x1.500 (+50.0%)"
    )
    assert [c.verdict(10) for c in comparisons] == ["regressed", "ok"]


def test_the_ratio_is_the_median_of_the_pairs() -> None:
    befores = [ran(f"base-{n}", {A: 1.0}) for n in (1, 2, 3)]
    afters = [ran("head-1", {A: 1.6}), ran("head-2", {A: 1.02}), ran("head-3", {A: 0.97})]

    [comparison] = compare(befores, afters)

    assert comparison.ratios == [1.6, 1.02, 0.97]
    assert comparison.ratio == 1.02
    assert judge([comparison], afters, max_percent=10) == "no median regressed by more than 10%"


def test_a_benchmark_the_base_lacks_is_a_note_not_a_failure() -> None:
    befores = [ran("base-1", {A: 1.0}, "ERROR bench_y.py - ImportError: cannot import name 'new'")]
    afters = [ran("head-1", {A: 0.5, "bench_y.py::test_new": 1.0})]
    comparisons = compare(befores, afters)

    assert [(c.name, c.verdict(10)) for c in comparisons] == [
        (A, "faster"),
        ("bench_y.py::test_new", "not in base"),
    ]
    assert judge(comparisons, afters, max_percent=10) == "no median regressed by more than 10%"


def test_nothing_compared_is_inconclusive() -> None:
    afters = [ran("head-1", {A: 1.0})]
    with pytest.raises(Inconclusive, match="no benchmark ran both at the base and at HEAD"):
        judge(compare([ran("base-1", {})], afters), afters, max_percent=10)


def test_a_benchmark_failing_at_head_fails_naming_it() -> None:
    afters = [ran("head-1", {A: 1.0}, "FAILED bench_x.py::test_b - assert 3 == 4", code=1)]
    with pytest.raises(CheckFailed, match=r"^failed at HEAD: FAILED bench_x.py::test_b - assert"):
        judge(compare([ran("base-1", {A: 1.0})], afters), afters, max_percent=10)


def test_pytest_benchmark_json_and_pytest_summaries_are_read(tmp_path: Path) -> None:
    path = tmp_path / "head.json"
    path.write_text(json.dumps({"benchmarks": [
        {"fullname": "benchmarks/micro/bench_x.py::test_a", "stats": {"median": 0.25}},
    ]}))  # fmt: skip
    assert bench.read_medians(path, "benchmarks/micro") == {A: 0.25}
    assert bench.read_medians(tmp_path / "none.json", "benchmarks/micro") == {}
    path.write_text('{"benchmarks": [{"name": "x"}]}')
    with pytest.raises(CannotRun, match=r"head\.json: not pytest-benchmark's JSON"):
        bench.read_medians(path, "benchmarks/micro")

    output = "..F\nFAILED b/bench_x.py::test_b - boom\nERROR b/bench_y.py - ImportError\n1 failed"
    assert bench.problems_in(output) == [
        "FAILED b/bench_x.py::test_b - boom",
        "ERROR b/bench_y.py - ImportError",
    ]


def commit_all(repo: Path, message: str) -> str:
    git("add", "-A", cwd=repo)
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", message, cwd=repo)
    return git("rev-parse", "HEAD", cwd=repo).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A checkout with one commit: a function, its benchmark, pytest's configuration."""
    root = tmp_path / "repo"
    (root / "benchmarks" / "micro").mkdir(parents=True)
    (root / "pyproject.toml").write_text('[tool.pytest.ini_options]\npythonpath = ["."]\n')
    (root / "work.py").write_text("def work():\n    return sum(range(200))\n")
    (root / "benchmarks" / "micro" / "bench_work.py").write_text(
        "from work import work\n\n\ndef test_work(benchmark):\n    benchmark(work)\n"
    )
    git("init", "-q", cwd=root)
    commit_all(root, "first")
    return root


def test_the_base_is_the_commit_of_uncommitted_changes_else_the_parent(repo: Path) -> None:
    first = git("rev-parse", "HEAD", cwd=repo).stdout.strip()
    with pytest.raises(CannotRun, match="no base commit: HEAD has no parent here"):
        bench.resolve_base(repo, None)

    (repo / "work.py").write_text("def work():\n    return 1\n")
    assert bench.resolve_base(repo, None) == bench.Base(
        first, "HEAD: the tree has uncommitted changes"
    )

    second = commit_all(repo, "second")
    assert bench.resolve_base(repo, None) == bench.Base(first, "HEAD's parent")
    assert bench.resolve_base(repo, "HEAD").commit == second
    with pytest.raises(CannotRun, match="--base no-such-ref: no such commit here"):
        bench.resolve_base(repo, "no-such-ref")


def test_on_a_branch_the_base_is_the_fork_point_from_main(repo: Path) -> None:
    fork = git("rev-parse", "HEAD", cwd=repo).stdout.strip()
    git("update-ref", "refs/remotes/origin/main", fork, cwd=repo)
    for change in ("one", "two"):
        (repo / f"{change}.txt").write_text(change)
        commit_all(repo, change)

    assert bench.resolve_base(repo, None) == bench.Base(fork, "the fork point from origin/main")


def test_what_it_needs_is_checked_first_in_one_line(
    tmp_path: Path, repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert bench.main(["--root", str(tmp_path), "--benchmarks", "."]) == 2
    assert bench.main(["--root", str(repo), "--benchmarks", "nowhere"]) == 2
    assert bench.main(["--root", str(repo), "--max-regression", "-5"]) == 2
    assert bench.main(["--root", str(repo), "--pairs", "0"]) == 2
    monkeypatch.setattr(bench, "has_pytest_benchmark", lambda: False)
    assert bench.main(["--root", str(repo)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"bench: {tmp_path} is not a git checkout: there is no base commit",
        f"bench: nowhere: no such directory in {repo}",
        "bench: --max-regression -5: must be 0 or more",
        "bench: --pairs 0: must be 1 or more",
        "bench: pytest-benchmark is not installed: install the bench dependency group",
    ]


FAST = ["--", "--benchmark-max-time=0.05", "--benchmark-min-rounds=5"]


@pytest.fixture
def pytest_benchmark() -> None:
    """The real comparisons run pytest-benchmark (the bench dependency group)."""
    if not bench.has_pytest_benchmark():
        missing("pytest-benchmark is not installed: install the bench dependency group")


@pytest.mark.slow
@pytest.mark.usefixtures("pytest_benchmark")
def test_a_planted_slowdown_fails_naming_the_benchmark(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # HEAD: work() does fifty times the work, and a new benchmark the base cannot import.
    (repo / "work.py").write_text(
        "def work():\n    return sum(range(10_000))\n\n\ndef added():\n    return 1\n"
    )
    (repo / "benchmarks" / "micro" / "bench_added.py").write_text(
        "from work import added\n\n\ndef test_added(benchmark):\n    benchmark(added)\n"
    )

    code = bench.main(["--root", str(repo), "--pairs", "1", *FAST])

    assert code == 1
    assert capsys.readouterr().err.startswith(
        "bench: median regressed by more than 10%: bench_work.py::test_work x"
    )
    result = json.loads((repo / "reports" / "bench" / "bench.json").read_text())
    assert [(b["name"], b["verdict"]) for b in result["benchmarks"]] == [
        ("bench_added.py::test_added", "not in base"),
        ("bench_work.py::test_work", "regressed"),
    ]
    assert result["not_measured_at_base"] == ["ERROR benchmarks/micro/bench_added.py"]
    assert result["flagged_by_pytest_benchmark"] == ["head-1"], "pytest-benchmark agrees"
    assert (repo / "reports" / "bench" / "base-1.json").is_file()


@pytest.mark.slow
@pytest.mark.usefixtures("pytest_benchmark")
def test_a_broken_benchmark_at_head_fails_and_a_lax_limit_passes(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lax = ["--root", str(repo), "--base", "HEAD", "--pairs", "1", "--max-regression", "100000"]
    lax += FAST
    assert bench.main(lax) == 0
    assert capsys.readouterr().out.splitlines()[-1] == ("no median regressed by more than 100000%")

    (repo / "benchmarks" / "micro" / "bench_work.py").write_text(
        "def test_work(benchmark):\n    assert benchmark(int) == 1\n"
    )
    assert bench.main(lax) == 1
    assert capsys.readouterr().err.startswith(
        "bench: failed at HEAD: FAILED benchmarks/micro/bench_work.py::test_work - assert 0 == 1"
    )
