"""The PostgreSQL check against real servers: a throwaway database on the shared server,
and a private cluster with ``max_connections`` 12 and a tiny buffer cache (conftest).

Each figure group is made to fail for real: connections held near the limit, a
transaction left open, a deadlock between two sessions, a burst of rolled-back
transactions, table scans that miss the cache, a server that is not there, and a
query the server cancels at the statement timeout.
"""

from __future__ import annotations

import asyncio
import dataclasses
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import asyncpg

from ops.backup.database import asyncpg_dsn
from ops.core.processes import free_port, wait_for
from ops.monitor.checks.postgres import postgres, postgres_applies
from ops.monitor.context import MonitorContext
from ops.monitor.results import Finding, Reason, Status
from ops.monitor.settings import Postgres
from tests.integration.monitoring.conftest import (
    Cluster,
    by_subject,
    monitor_context,
    next_run,
    run_in_thread,
    sql,
    statistic,
    wait_for_statistic,
)

SUBJECTS = [
    "server", "connections", "transactions", "cache", "deadlocks", "rollbacks", "size",
    "statements",
]  # fmt: skip
# A stand-in for a statistics view too slow to read: pg_stat_statements is looked up
# through the search path, so this view (2 s of pg_sleep per read) is what the check
# queries -- and the server must cancel that query at the statement timeout.
SLOW_STATEMENTS_VIEW = """
CREATE VIEW public.pg_stat_statements AS
SELECT d.oid AS dbid, 'SELECT 1'::text AS query, 1::bigint AS calls, 1.0::float8 AS mean_exec_time
FROM pg_catalog.pg_database d, pg_catalog.pg_sleep(2)
WHERE d.datname = current_database()
"""
MONITOR_READING_STATEMENTS = """
SELECT pid FROM pg_stat_activity
WHERE datname = current_database() AND application_name = 'invoke monitor'
  AND state = 'active' AND query LIKE '%FROM pg_stat_statements%'
"""


def context_for(url: str, **thresholds: Any) -> MonitorContext:
    """A context whose database is ``url``, with ``[monitor.postgres]`` ``thresholds``."""
    return monitor_context({"DATABASE_URL": url}, postgres=Postgres(**thresholds))


def look(context: MonitorContext) -> dict[str, Finding]:
    """One run of the check, by subject."""
    return by_subject(postgres(context))


def test_a_healthy_database_passes_and_counters_wait_for_a_second_run(empty_pg_url: str) -> None:
    context = context_for(empty_pg_url)
    assert postgres_applies(context) is None
    first = look(context)
    assert list(first) == SUBJECTS
    assert [f.key for f in first.values() if f.status is not Status.OK] == []
    assert first["deadlocks"].summary.startswith("first run: counters recorded")
    assert first["server"].figures["statement_timeout_ms"] == 5000
    second = look(next_run(context))
    assert [f.key for f in second.values() if f.status is not Status.OK] == []
    assert second["deadlocks"].summary == "0 deadlock(s) since the last run"
    assert "too few to judge" in second["rollbacks"].summary
    assert int(second["connections"].figures["used"] or 0) >= 1


def test_only_a_postgresql_database_is_checked() -> None:
    sqlite = monitor_context({"DATABASE_URL": "sqlite+aiosqlite:///trading.db"})
    assert postgres_applies(sqlite) == "the database is sqlite, not PostgreSQL"
    local_default = monitor_context({})  # the local platform's SQLite file
    assert postgres_applies(local_default) == "the database is sqlite, not PostgreSQL"
    hosted = dataclasses.replace(
        local_default,
        environment=local_default.environment.model_copy(update={"platform": "kubernetes"}),
    )
    assert postgres_applies(hosted) == "DATABASE_URL: required for environment 'monitored'"


def test_a_database_over_its_size_warns(empty_pg_url: str) -> None:
    size = look(context_for(empty_pg_url, size_warning_gb=0.001))["size"]  # 1 MB
    assert (size.status, size.reason) == (Status.WARNING, Reason.THRESHOLD)
    assert size.summary.startswith("database size ")
    assert size.summary.endswith("(warning at 0.001 GB)")


def test_statement_figures_that_cannot_be_read_are_unknown_or_a_note(empty_pg_url: str) -> None:
    sql(empty_pg_url, "CREATE EXTENSION pg_stat_statements")  # installed, not preloaded
    noted = look(context_for(empty_pg_url))["statements"]
    assert (noted.status, noted.summary) == (
        Status.OK, "pg_stat_statements is installed but not in shared_preload_libraries",
    )  # fmt: skip
    assert look(context_for(empty_pg_url, slowest_statements=0))["statements"].summary == (
        "slowest statements not asked for (slowest_statements = 0)"
    )
    sql(empty_pg_url, "DROP EXTENSION pg_stat_statements")
    sql(empty_pg_url, "CREATE VIEW pg_stat_statements AS SELECT 1 AS calls")  # no such columns
    unreadable = look(context_for(empty_pg_url))["statements"]
    assert (unreadable.status, unreadable.reason) == (Status.UNKNOWN, Reason.MISSING)
    assert unreadable.summary.startswith("cannot read statements: column ")


def test_an_unreachable_server_is_critical_connect_without_its_password() -> None:
    url = f"postgresql://monitor:hunter2-secret@127.0.0.1:{free_port()}/trading"
    findings = postgres(context_for(url))
    assert [(f.subject, f.status, f.reason) for f in findings] == [
        ("server", Status.CRITICAL, Reason.CONNECT)
    ]
    assert "cannot connect to postgresql://monitor:***@127.0.0.1:" in findings[0].summary
    assert "hunter2" not in findings[0].summary


async def test_connections_held_near_the_limit_warn_then_go_critical(
    small_cluster: Cluster,
) -> None:
    url = small_cluster.url()
    context = context_for(url)
    held: list[Any] = []

    async def hold(count: int) -> None:
        held.extend([await asyncpg.connect(url) for _ in range(count)])

    try:
        idle = by_subject(await run_in_thread(postgres, context))["connections"]
        assert idle.status is Status.OK
        assert idle.figures["max_connections"] == 12
        await hold(10 - int(idle.figures["used"] or 0))  # with the check's own: 10 of 12, 83%
        warned = by_subject(await run_in_thread(postgres, context))["connections"]
        assert (warned.status, warned.reason) == (Status.WARNING, Reason.THRESHOLD)
        assert warned.summary.startswith("10 of 12 connections in use (83%)")
        await hold(2)
        critical = by_subject(await run_in_thread(postgres, context))["connections"]
        assert (critical.status, critical.reason) == (Status.CRITICAL, Reason.THRESHOLD)
        assert critical.summary.startswith("12 of 12 connections in use (100%)")
        await hold(1)  # every slot taken: the monitor itself is turned away
        [refused] = await run_in_thread(postgres, context)
        assert (refused.subject, refused.status, refused.reason) == (
            "server", Status.CRITICAL, Reason.CONNECT,
        )  # fmt: skip
        assert "too many clients" in refused.summary
    finally:
        for connection in held:
            await connection.close()


async def test_a_transaction_left_open_past_the_limits(empty_pg_url: str) -> None:
    holder = await asyncpg.connect(asyncpg_dsn(empty_pg_url))
    try:
        transaction = holder.transaction()
        await transaction.start()
        await holder.fetchval("SELECT 1")
        await asyncio.sleep(0.3)
        warned = by_subject(
            await run_in_thread(postgres, context_for(
                empty_pg_url, oldest_transaction_warning_seconds=0.2,
            ))
        )["transactions"]  # fmt: skip
        assert (warned.status, warned.reason) == (Status.WARNING, Reason.THRESHOLD)
        assert warned.figures["pid"] == holder.get_server_pid()
        assert warned.figures["state"] == "idle in transaction"
        critical = by_subject(
            await run_in_thread(postgres, context_for(
                empty_pg_url, oldest_transaction_warning_seconds=0.1,
                oldest_transaction_critical_seconds=0.2,
            ))
        )["transactions"]  # fmt: skip
        assert (critical.status, critical.reason) == (Status.CRITICAL, Reason.THRESHOLD)
        assert "critical at 0.2 s" in critical.summary
        await transaction.rollback()
        closed = by_subject(await run_in_thread(postgres, context_for(empty_pg_url)))
        assert closed["transactions"].summary == "no open transaction"
    finally:
        await holder.close()


def test_a_query_over_the_statement_timeout_is_critical_timeout(empty_pg_url: str) -> None:
    sql(empty_pg_url, SLOW_STATEMENTS_VIEW)
    found = look(context_for(empty_pg_url, statement_timeout_ms=100))
    statements = found.pop("statements")
    assert (statements.status, statements.reason) == (Status.CRITICAL, Reason.TIMEOUT)
    assert "after the 100 ms statement timeout" in statements.summary
    assert "canceling statement due to statement timeout" in statements.summary
    assert [f.key for f in found.values() if f.status is not Status.OK] == []


def test_a_connection_lost_in_the_middle_is_critical_connect(empty_pg_url: str) -> None:
    sql(empty_pg_url, SLOW_STATEMENTS_VIEW)  # 2 s to read, within the 5 s timeout
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(postgres, context_for(empty_pg_url))

        def reading() -> tuple[bool, str]:
            rows = sql(empty_pg_url, MONITOR_READING_STATEMENTS)
            return bool(rows), f"{len(rows)} monitor session(s) reading statements"

        waited = wait_for(reading, timeout=20, interval=0.05)
        assert waited.ready, waited.seen
        [(pid,)] = sql(empty_pg_url, MONITOR_READING_STATEMENTS)
        sql(empty_pg_url, "SELECT pg_terminate_backend($1)", pid)
        found = by_subject(running.result(timeout=60))
    server = found["server"]
    assert (server.status, server.reason) == (Status.CRITICAL, Reason.CONNECT)
    assert server.summary.startswith("connection lost while reading statements: ")
    assert "statements" not in found
    assert found["size"].status is Status.OK  # what was read before still counts


async def _deadlock(url: str) -> None:
    first = await asyncpg.connect(asyncpg_dsn(url))
    second = await asyncpg.connect(asyncpg_dsn(url))
    try:
        transactions = [first.transaction(), second.transaction()]
        for transaction in transactions:
            await transaction.start()
        await first.execute("UPDATE pair SET v = 1 WHERE id = 1")
        await second.execute("UPDATE pair SET v = 1 WHERE id = 2")
        crossed = await asyncio.gather(
            first.execute("UPDATE pair SET v = 2 WHERE id = 2"),
            second.execute("UPDATE pair SET v = 2 WHERE id = 1"),
            return_exceptions=True,
        )
        assert any(isinstance(r, asyncpg.DeadlockDetectedError) for r in crossed), crossed
        for transaction in transactions:
            await transaction.rollback()
    finally:
        await first.close()
        await second.close()


def test_a_deadlock_since_the_last_run_warns(empty_pg_url: str) -> None:
    sql(empty_pg_url, "CREATE TABLE pair (id int PRIMARY KEY, v int NOT NULL)")
    sql(empty_pg_url, "INSERT INTO pair VALUES (1, 0), (2, 0)")
    context = context_for(empty_pg_url)
    assert look(context)["deadlocks"].status is Status.OK
    before = statistic(empty_pg_url, "deadlocks")
    asyncio.run(_deadlock(empty_pg_url))
    wait_for_statistic(empty_pg_url, "deadlocks", above=before)
    context = next_run(context)
    deadlocks = look(context)["deadlocks"]
    assert (deadlocks.status, deadlocks.reason) == (Status.WARNING, Reason.THRESHOLD)
    assert deadlocks.summary == "1 deadlock(s) since the last run (warning at 1)"
    again = look(context)["deadlocks"]  # a confirming attempt of the same run: same window
    assert again.summary == deadlocks.summary
    assert look(next_run(context))["deadlocks"].status is Status.OK  # nothing new since


async def _roll_back(url: str, count: int) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        for _ in range(count):
            transaction = connection.transaction()
            await transaction.start()
            await connection.fetchval("SELECT 1")
            await transaction.rollback()
    finally:
        await connection.close()


def test_a_surge_of_rollbacks_since_the_last_run_warns(empty_pg_url: str) -> None:
    context = context_for(empty_pg_url, min_transactions=100, rollback_ratio_warning=0.5)
    assert look(context)["rollbacks"].summary.startswith("first run")
    before = statistic(empty_pg_url, "xact_rollback")
    asyncio.run(_roll_back(empty_pg_url, 200))
    wait_for_statistic(empty_pg_url, "xact_rollback", above=before + 199)
    rollbacks = look(next_run(context))["rollbacks"]
    assert (rollbacks.status, rollbacks.reason) == (Status.WARNING, Reason.THRESHOLD)
    assert float(rollbacks.figures["rollbacks"] or 0) >= 200
    assert "rolled back (warning at 50%)" in rollbacks.summary


def test_scans_that_miss_the_cache_warn(small_cluster: Cluster) -> None:
    with small_cluster.database("cache_misses") as url:
        sql(url, "CREATE TABLE wide AS SELECT g, md5(g::text) || md5((-g)::text) AS filler"
                 " FROM generate_series(1, 60000) AS g")  # fmt: skip  # about 6 MB
        context = context_for(url, min_block_lookups=100)
        assert look(context)["cache"].summary.startswith("first run")
        before = statistic(url, "blks_read")
        for _ in range(3):  # 128 kB of shared buffers: every scan reads the table again
            sql(url, "SELECT count(*) FROM wide WHERE filler LIKE 'x%'")
        wait_for_statistic(url, "blks_read", above=before + 1500)
        cache = look(next_run(context))["cache"]
        assert (cache.status, cache.reason) == (Status.WARNING, Reason.THRESHOLD)
        assert float(cache.figures["ratio"] or 1) < 0.9
        assert "(warning at 90% or below)" in cache.summary


def test_the_slowest_statements_are_figures_and_no_secret_is(small_cluster: Cluster) -> None:
    with small_cluster.database("statements") as url:
        sql(url, "CREATE EXTENSION pg_stat_statements")
        sql(url, "CREATE TABLE numbers AS SELECT g FROM generate_series(1, 20000) AS g")
        for divisor in (3, 7):
            sql(url, "SELECT count(*) FROM numbers WHERE g % $1 = 0", divisor)
        sql(url, "ALTER ROLE postgres PASSWORD 'hunter2-secret'")  # kept as typed by the view
        statements = look(context_for(url, slowest_statements=3))["statements"]
        assert statements.status is Status.OK
        queries = [str(statements.figures[f"{rank}_query"]) for rank in (1, 2, 3)
                   if f"{rank}_query" in statements.figures]  # fmt: skip
        assert any("FROM numbers WHERE g % $1" in query for query in queries), queries
        assert isinstance(statements.figures["1_mean_ms"], float)
        assert statements.summary.startswith("slowest mean ")
        assert "hunter2" not in repr(statements)
