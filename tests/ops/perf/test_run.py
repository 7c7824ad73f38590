"""The run's command line and its refusals: everything that can be known before a server
starts is checked first, in one line, exit 2 -- and nothing stale is left to be judged."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ops.core.console import Console
from ops.core.exits import CANNOT_RUN
from ops.core.processes import available_cpus
from ops.perf import pgbench
from ops.perf import run as perf
from ops.perf.placement import Placement, place
from ops.perf.slo import SloProblem, resolve
from ops.perf.target import DATABASE_VARIABLE, Target, remote
from tests.support import needs
from tests.support.backends import check_postgres, postgres_admin_url

BOOK = "GET /v1/market/{symbol}/book"
LOCAL = Target("http://127.0.0.1:8000", "PostgreSQL and Redis", local=True)
PLACED = Placement((0,), (1,))


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


def never_measured(*args: object, **kwargs: object) -> pgbench.Reference:
    raise AssertionError("pgbench ran where it must not")


@pytest.mark.parametrize(
    ("argv", "target", "run", "why"),
    [
        (["--no-db-reference"], LOCAL, {}, "--no-db-reference"),
        ([], LOCAL, {"db_reference_seconds": 0}, "[run] db_reference_seconds = 0"),
        ([], remote("https://staging.example.com"), {},
         "a deployed target: this run has no access to its database server"),
        (["--host", "http://10.0.0.5:8000"], remote("http://10.0.0.5:8000"), {},
         "a deployed target: this run has no access to its database server"),
        (["--backend", "sqlite"], LOCAL, {}, "SQLite: no PostgreSQL server to measure"),
    ],
)  # fmt: skip
def test_a_run_without_a_database_reference_notes_why(
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    target: Target,
    run: dict[str, object],
    why: str,
) -> None:
    monkeypatch.setattr(pgbench, "measure", never_measured)
    slo = resolve({"run": run})
    found = perf.database_reference(options(*argv), slo, target, {}, PLACED, Console())
    assert found == (None, [f"no database reference: {why}"])


def test_the_database_reference_is_on_by_default() -> None:
    assert options().db_reference is True
    assert options("--no-db-reference").db_reference is False


def test_a_local_postgresql_run_measures_pgbench_on_its_server_first(
    capsys: pytest.CaptureFixture[str],
) -> None:
    check_postgres()
    needs.program("pgbench", "install the PostgreSQL client tools")
    server = postgres_admin_url()
    tiny = resolve({"run": {"db_reference_seconds": 1, "db_reference_clients": 2,
                            "db_reference_threads": 1}})  # fmt: skip
    placement = place(available_cpus())
    env = {**os.environ, DATABASE_VARIABLE: server}
    reference, notes = perf.database_reference(options(), tiny, LOCAL, env, placement, Console())
    assert notes == []
    assert reference is not None
    assert reference.tps > 0
    assert reference.cpus == placement.server
    assert reference.settings == pgbench.ReferenceSettings(1, 2, 1, 1)
    said = capsys.readouterr().out
    assert "perf: database reference: pgbench tpcb-like, scale 1, 2 clients, 1 threads, 1 s" in said
    assert " TPS" in said
