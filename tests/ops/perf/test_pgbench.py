"""The database reference: pgbench's report read in each version's words, a real pgbench
run on the local PostgreSQL in a scratch database that is dropped afterwards, and its
refusals in one line."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from ops.backup.database import libpq_target
from ops.backup.postgres import on_database, scratch_database, tool_env
from ops.core.exits import CANNOT_RUN
from ops.core.processes import available_cpus
from ops.perf import pgbench
from ops.perf.pgbench import ReferenceProblem, ReferenceSettings, parse_tps
from ops.perf.slo import resolve
from tests.support import needs
from tests.support.backends import check_postgres, postgres_admin_url

TINY = ReferenceSettings(seconds=1, clients=2, threads=1, scale=1)
# pgbench 15.20, `pgbench -n -c 2 -j 1 -T 1 -b tpcb-like`, verbatim.
PGBENCH_15 = """\
pgbench (15.20 (Debian 15.20-0+deb12u1))
transaction type: <builtin: TPC-B (sort of)>
scaling factor: 1
query mode: simple
number of clients: 2
number of threads: 1
maximum number of tries: 1
duration: 1 s
number of transactions actually processed: 953
number of failed transactions: 0 (0.000%)
latency average = 2.075 ms
initial connection time = 15.504 ms
tps = 963.702884 (without initial connection time)
"""
# pgbench 12 and 13 print both, the one without the connections last.
PGBENCH_12 = """\
transaction type: <builtin: TPC-B (sort of)>
scaling factor: 1
query mode: simple
number of clients: 16
number of threads: 2
duration: 20 s
number of transactions actually processed: 17204
latency average = 18.606 ms
tps = 859.904011 (including connections establishing)
tps = 860.592337 (excluding connections establishing)
"""


@pytest.fixture
def server() -> str:
    """The test PostgreSQL server; skipped (locally) or failed (CI) when it does not answer."""
    check_postgres()
    needs.program("pgbench", "install the PostgreSQL client tools")
    return postgres_admin_url()


def exists(server: str, database: str) -> bool:
    """Whether the server has a database of that name."""
    found = on_database(
        server,
        lambda connection: connection.fetchval(
            "SELECT count(*) FROM pg_database WHERE datname = $1", database
        ),
    )
    return bool(found)


def test_pgbench_15s_report_is_read() -> None:
    assert parse_tps(PGBENCH_15) == 963.702884


def test_an_older_report_is_read_without_the_connection_time() -> None:
    assert parse_tps(PGBENCH_12) == 860.592337
    assert parse_tps(PGBENCH_12.splitlines()[-2]) == 859.904011


def test_a_report_without_a_tps_line_is_refused_naming_its_last_line() -> None:
    with pytest.raises(ReferenceProblem) as caught:
        parse_tps("transaction type: <builtin: TPC-B (sort of)>\ntps = lots\n")
    assert str(caught.value) == (
        "database reference: pgbench printed no tps line (last line: tps = lots)"
    )
    assert caught.value.exit_code == CANNOT_RUN
    with pytest.raises(ReferenceProblem, match=r"\(last line: fatal: out of memory\)$"):
        parse_tps("", stderr="pgbench: fatal: out of memory\n")


def test_the_settings_come_from_the_run_section_once() -> None:
    settings = ReferenceSettings.of(resolve().run)
    assert settings == ReferenceSettings(seconds=10, clients=16, threads=2, scale=1)
    assert settings.enabled
    assert not ReferenceSettings.of(resolve({"run": {"db_reference_seconds": 0}}).run).enabled
    assert pgbench.bench_command("pgbench", "postgresql://h/db", settings) == [
        "pgbench", "-n", "-c", "16", "-j", "2", "-T", "10", "-b", "tpcb-like",
        "postgresql://h/db",
    ]  # fmt: skip
    assert pgbench.init_command("pgbench", "postgresql://h/db", settings) == [
        "pgbench", "-i", "-q", "-s", "1", "postgresql://h/db",
    ]  # fmt: skip


def test_a_missing_pgbench_cannot_run_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(ReferenceProblem) as caught:
        pgbench.measure("postgresql://postgres@127.0.0.1:1/postgres", TINY,
                        {"PATH": str(tmp_path)})  # fmt: skip
    message = str(caught.value)
    assert message.startswith("database reference: pgbench not found: install the PostgreSQL")
    assert message.endswith("(or --no-db-reference)")
    assert "\n" not in message
    assert caught.value.exit_code == CANNOT_RUN


def test_a_real_run_measures_tps_in_a_scratch_database_it_drops(
    server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    used: list[str] = []

    @contextmanager
    def recorded(server_url: str, prefix: str) -> Iterator[str]:
        with scratch_database(server_url, prefix) as url:
            used.append(str(make_url(url).database))
            assert exists(server, used[-1])
            yield url

    monkeypatch.setattr(pgbench, "scratch_database", recorded)
    reference = pgbench.measure(server, TINY, os.environ, cpus=available_cpus()[:1])
    assert reference.tps > 0
    assert reference.tool.startswith("pgbench ")
    assert reference.settings == TINY
    assert len(reference.cpus) == 1
    [database] = used
    assert database.startswith("perf_pgbench_")
    assert database != make_url(server).database
    assert not exists(server, database)


def test_a_failed_pgbench_names_its_error_line(server: str) -> None:
    with scratch_database(server, "perf_pgbench") as url:
        uri, password = libpq_target(url)
        command = pgbench.bench_command("pgbench", uri, TINY)  # no -i: no tables
        with pytest.raises(ReferenceProblem) as caught:
            pgbench.pgbench_run("pgbench", command, tool_env(os.environ, password), 60)
    assert str(caught.value).startswith("database reference: pgbench failed (exit 1): ")
    assert 'relation "pgbench_branches" does not exist' in str(caught.value)
