"""The run's command line and its refusals: everything that can be known before a server
starts is checked first, in one line, exit 2 -- and nothing stale is left to be judged."""

from __future__ import annotations

from pathlib import Path

import pytest

from ops.core.exits import CANNOT_RUN
from ops.perf import run as perf
from ops.perf.slo import SloProblem
from ops.perf.target import Target, remote

BOOK = "GET /v1/market/{symbol}/book"


def options(*argv: str) -> perf.Options:
    return perf.options(perf.parser().parse_args(list(argv)))


def refused(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """The one line ``python -m ops.perf argv`` refuses with (exit 2)."""
    assert perf.main(list(argv)) == CANNOT_RUN
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_the_command_line_overrides_the_run_settings_only_where_given() -> None:
    opts = options("--rate", "80", "--warmup", "0")
    assert opts.overrides == {"run": {"rate": 80.0, "warmup_seconds": 0.0}}
    slo = perf.objectives(opts)
    assert (slo.run.rate, slo.run.warmup_seconds, slo.run.duration_seconds) == (80, 0, 60)
    assert options().overrides == {}


def test_an_environment_and_an_slo_file_layer_over_the_defaults(tmp_path: Path) -> None:
    assert perf.objectives(options()).request(BOOK).p95_ms == 250
    assert perf.objectives(options("--env", "staging")).request(BOOK).p95_ms == 300
    extra = tmp_path / "tight.toml"
    extra.write_text(f'[requests."{BOOK}"]\np95_ms = 120\n')
    layered = perf.objectives(options("--env", "staging", "--slo", str(extra), "--rate", "5"))
    assert (layered.request(BOOK).p95_ms, layered.run.rate) == (120, 5)


def test_an_invalid_slo_file_is_named_with_its_first_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[run]\nrate = -1\n")
    with pytest.raises(SloProblem, match=r"^bad\.toml with the command line: run\.rate: "):
        perf.objectives(options("--slo", str(bad)))


def test_the_seed_is_random_unless_given() -> None:
    assert options("--seed", "7").seed == 7
    assert len({options().seed for _ in range(5)}) > 1


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["--scenario", "nope"], "perf: unknown scenario 'nope'"),
        (["--workers", "-1"], "perf: --workers and --server-workers must not be negative"),
        (["--master-host", "10.0.0.5"], "perf: --master-host needs --workers N"),
        (["--baseline", "/nowhere/v.json"], "perf: baseline /nowhere/v.json: no such file"),
        (["--env", "nowhere"], "perf: unknown environment 'nowhere'"),
        (["--host", "http://127.0.0.1:9"], "perf: PERF_ACCOUNTS"),
    ],
)  # fmt: skip
def test_what_can_be_known_before_the_load_is_refused_in_one_line(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    argv: list[str],
    line: str,
) -> None:
    monkeypatch.delenv("PERF_ACCOUNTS", raising=False)
    found = refused(capsys, *argv, "--reports", str(tmp_path / "reports"), "--no-store")
    assert found.startswith(line), found


def test_only_the_files_a_run_writes_are_cleared(tmp_path: Path) -> None:
    names = ["measurements.json", "verdict.json", "verdict.md", "report.html", "locust_stats.csv",
             "locust-worker-0.log", "server.log", "notes.txt", "plan.json"]  # fmt: skip
    for name in names:
        (tmp_path / name).write_text("x")
    perf.clear_outputs(tmp_path)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["notes.txt", "plan.json"]


def test_a_deployed_target_is_not_cross_checked_unless_asked() -> None:
    deployed, local = remote("https://staging.example.com"), Target("u", "s", local=True)
    assert perf.compares(options(), deployed) is False
    assert perf.compares(options(), local) is True
    assert perf.compares(options("--cross-check"), deployed) is True
    assert perf.compares(options("--no-cross-check"), local) is False
    unavailable = perf.cross_check(options(), deployed, None)  # type: ignore[arg-type]
    assert unavailable.problem.startswith("a deployed environment answers /metrics for one")


def test_the_machine_line_names_the_cpus_and_python() -> None:
    line = perf.machine()
    assert " CPUs" in line
    assert "Python 3." in line


def test_the_offered_rate_is_said_as_the_scenario_offers_it() -> None:
    assert perf.offered("trader-mix", perf.objectives(options("--rate", "30"))) == "30 req/s"
    stepped = perf.objectives(options("--duration", "60"))
    assert perf.offered("hot-symbol", stepped) == "20 req/s, +20 every 10 s up to 120"
