"""PostgreSQL: connections against ``max_connections``, the oldest open transaction, the
cache hit ratio, deadlocks, the rollback ratio, the database's size and the slowest
statements -- the figures postgres_exporter users alert on.

One connection (:func:`ops.backup.postgres.connected`) with ``statement_timeout`` set
for every query, one query and one finding per figure group (the subjects:
``server``, ``connections``, ``transactions``, ``cache``, ``deadlocks``, ``rollbacks``,
``size``, ``statements``). A server that cannot be reached is ``critical connect``; a
query cancelled by the statement timeout is ``critical timeout`` for its group.

``pg_stat_database`` counts since the server started (or its statistics were reset),
so the cache, deadlock and rollback figures are judged on their increase since the
previous run (:meth:`MonitorContext.since_last_run`); the first run only records them. Transactions
and statements are those of the environment's own database: another database on a
shared server is not this environment's business.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from ops.backup.database import backend_of, safe_url
from ops.backup.errors import BackupCannotRun
from ops.backup.postgres import connected, server_version
from ops.core.console import human_size
from ops.core.exits import one_line
from ops.environments import EnvironmentProblem
from ops.monitor.context import MonitorContext
from ops.monitor.results import (
    Figure,
    Finding,
    Reason,
    Status,
    count_since_last_run,
    graded,
    judged,
    limits,
    ok,
    problem,
    share_of_limit,
    share_since_last_run,
)

CHECK = "postgres"
CONNECTIONS = """
SELECT count(*) FILTER (WHERE backend_type = 'client backend') AS used,
       current_setting('max_connections')::int AS allowed
FROM pg_catalog.pg_stat_activity
"""
OLDEST_TRANSACTION = """
SELECT pid, state, EXTRACT(EPOCH FROM now() - xact_start)::float8 AS seconds
FROM pg_catalog.pg_stat_activity
WHERE datname = current_database() AND backend_type = 'client backend'
  AND pid <> pg_backend_pid() AND xact_start IS NOT NULL
ORDER BY xact_start LIMIT 1
"""
DATABASE_STATS = """
SELECT blks_hit, blks_read, deadlocks, xact_commit, xact_rollback
FROM pg_catalog.pg_stat_database WHERE datname = current_database()
"""
SIZE = "SELECT pg_catalog.pg_database_size(current_database())"
# Looked up through the search path, as the extension's view is (usually in public).
STATEMENTS_INSTALLED = "SELECT to_regclass('pg_stat_statements') IS NOT NULL"
# Only statements whose constants pg_stat_statements replaced by $n: the text of a
# utility statement (ALTER ROLE ... PASSWORD '...') is kept as typed, secrets and all.
SLOWEST = r"""
SELECT left(regexp_replace(query, '\s+', ' ', 'g'), 120) AS query, calls, mean_exec_time
FROM pg_stat_statements
WHERE dbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())
  AND query ~* '^\s*(select|insert|update|delete|with|merge)\M'
ORDER BY mean_exec_time DESC LIMIT $1
"""
GIB = 1024**3

Probe = Callable[[Any, MonitorContext], Awaitable[Finding]]


class ConnectionLost(Exception):
    """The server went away in the middle of the check."""


def postgres_applies(context: MonitorContext) -> str | None:
    """Only an environment whose database is PostgreSQL."""
    try:
        backend = backend_of(context.environment.database_url(context.env))
    except (EnvironmentProblem, BackupCannotRun) as error:
        return one_line(error)
    return None if backend == "postgresql" else f"the database is {backend}, not PostgreSQL"


def postgres(context: MonitorContext) -> list[Finding]:
    """Connect, then one finding per figure group; unreachable: one ``server`` finding."""
    url = context.environment.database_url(context.env)
    try:
        return asyncio.run(connected(url, lambda connection: _observe(connection, url, context)))
    except BackupCannotRun as error:  # what ops.backup.postgres.connect says, password hidden
        return [problem(CHECK, "server", Status.CRITICAL, Reason.CONNECT, one_line(error))]


async def _observe(connection: Any, url: str, context: MonitorContext) -> list[Finding]:
    try:
        findings = [await _server(connection, url, context)]
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as error:
        summary = f"{safe_url(url)}: session setup failed: {one_line(error)}"
        return [problem(CHECK, "server", Status.CRITICAL, Reason.CONNECT, summary)]
    for subject, probe in PROBES:
        try:
            findings.append(await _observed(subject, probe, connection, context))
        except ConnectionLost as error:
            summary = f"connection lost while reading {subject}: {error}"
            findings[0] = problem(CHECK, "server", Status.CRITICAL, Reason.CONNECT, summary)
            break
    return findings


async def _server(connection: Any, url: str, context: MonitorContext) -> Finding:
    """Set the statement timeout for the session; the server's version."""
    timeout_ms = context.settings.postgres.statement_timeout_ms
    await connection.fetchval(
        "SELECT set_config('statement_timeout', $1, false),"
        " set_config('application_name', 'invoke monitor', false)",
        str(timeout_ms),
    )
    version = await server_version(connection)
    return ok(CHECK, "server", f"PostgreSQL {version} at {safe_url(url)}",
              version=str(version), statement_timeout_ms=timeout_ms)  # fmt: skip


async def _observed(
    subject: str, probe: Probe, connection: Any, context: MonitorContext
) -> Finding:
    try:
        return await probe(connection, context)
    except asyncpg.QueryCanceledError as error:
        limit = context.settings.postgres.statement_timeout_ms
        summary = f"query cancelled after the {limit} ms statement timeout: {one_line(error)}"
        return problem(CHECK, subject, Status.CRITICAL, Reason.TIMEOUT, summary)
    except (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, OSError) as error:
        raise ConnectionLost(one_line(error)) from error
    except asyncpg.PostgresError as error:
        summary = f"cannot read {subject}: {one_line(error)}"
        return problem(CHECK, subject, Status.UNKNOWN, Reason.MISSING, summary)


async def _connections(connection: Any, context: MonitorContext) -> Finding:
    settings = context.settings.postgres
    row = await connection.fetchrow(CONNECTIONS)
    used, allowed = int(row["used"]), int(row["allowed"])
    return share_of_limit(
        CHECK, "connections", used, allowed, warning=settings.connections_warning,
        critical=settings.connections_critical, saying=f"{used} of {allowed} connections in use",
        used=used, max_connections=allowed,
    )  # fmt: skip


async def _transactions(connection: Any, context: MonitorContext) -> Finding:
    settings = context.settings.postgres
    row = await connection.fetchrow(OLDEST_TRANSACTION)
    if row is None:
        return ok(CHECK, "transactions", "no open transaction", oldest_seconds=0)
    seconds = float(row["seconds"])
    warning = settings.oldest_transaction_warning_seconds
    critical = settings.oldest_transaction_critical_seconds
    status = graded(seconds, warning, critical)
    summary = f"oldest open transaction {seconds:.1f} s ({row['state']}, pid {row['pid']})"
    if status.is_problem:
        summary += limits(f"{warning:g} s", f"{critical:g} s")
    return judged(CHECK, "transactions", status, summary, oldest_seconds=round(seconds, 3),
                   pid=int(row["pid"]), state=str(row["state"]))  # fmt: skip


async def _counters(connection: Any, context: MonitorContext, *names: str) -> list[float | None]:
    """The increase of ``pg_stat_database`` counters since the previous run."""
    row = await connection.fetchrow(DATABASE_STATS)
    return [context.since_last_run(CHECK, name, float(row[name])) for name in names]


async def _cache(connection: Any, context: MonitorContext) -> Finding:
    settings = context.settings.postgres
    hits, reads = await _counters(connection, context, "blks_hit", "blks_read")
    return share_since_last_run(
        CHECK, "cache", hits, reads, events="block lookups", minimum=settings.min_block_lookups,
        warning=settings.cache_hit_warning, higher_is_worse=False,
        saying="cache hit ratio {share:.1%} over {total:.0f} block lookups since the last run",
        block_hits=hits, block_reads=reads,
    )  # fmt: skip


async def _deadlocks(connection: Any, context: MonitorContext) -> Finding:
    settings = context.settings.postgres
    (deadlocks,) = await _counters(connection, context, "deadlocks")
    return count_since_last_run(CHECK, "deadlocks", deadlocks, events="deadlock(s)",
                                limit=settings.deadlocks_warning, deadlocks=deadlocks)  # fmt: skip


async def _rollbacks(connection: Any, context: MonitorContext) -> Finding:
    settings = context.settings.postgres
    commits, rollbacks = await _counters(connection, context, "xact_commit", "xact_rollback")
    return share_since_last_run(
        CHECK, "rollbacks", rollbacks, commits, events="transactions",
        minimum=settings.min_transactions, warning=settings.rollback_ratio_warning,
        higher_is_worse=True,
        saying="{share:.1%} of {total:.0f} transactions since the last run rolled back",
        commits=commits, rollbacks=rollbacks,
    )  # fmt: skip


async def _size(connection: Any, context: MonitorContext) -> Finding:
    settings = context.settings.postgres
    size = int(await connection.fetchval(SIZE))
    status = graded(size / GIB, settings.size_warning_gb)
    summary = f"database size {human_size(size)}"
    if status.is_problem:
        summary += limits(f"{settings.size_warning_gb:g} GB")
    return judged(CHECK, "size", status, summary, bytes=size, gb=round(size / GIB, 3))


async def _statements(connection: Any, context: MonitorContext) -> Finding:
    wanted = context.settings.postgres.slowest_statements
    if wanted == 0:
        return ok(CHECK, "statements", "slowest statements not asked for (slowest_statements = 0)")
    if not await connection.fetchval(STATEMENTS_INSTALLED):
        return ok(CHECK, "statements", "pg_stat_statements is not installed: no statement figures")
    try:
        rows = await connection.fetch(SLOWEST, wanted)
    except asyncpg.ObjectNotInPrerequisiteStateError:
        summary = "pg_stat_statements is installed but not in shared_preload_libraries"
        return ok(CHECK, "statements", summary)
    if not rows:
        return ok(CHECK, "statements", "pg_stat_statements has recorded no statement yet")
    figures: dict[str, Figure] = {}
    for rank, row in enumerate(rows, start=1):
        figures[f"{rank}_mean_ms"] = round(float(row["mean_exec_time"]), 3)
        figures[f"{rank}_calls"] = int(row["calls"])
        figures[f"{rank}_query"] = str(row["query"])
    first = rows[0]
    summary = (
        f"slowest mean {float(first['mean_exec_time']):.1f} ms over {first['calls']} calls:"
        f" {str(first['query'])[:60]}"
    )
    return ok(CHECK, "statements", summary, **figures)


PROBES: tuple[tuple[str, Probe], ...] = (
    ("connections", _connections),
    ("transactions", _transactions),
    ("cache", _cache),
    ("deadlocks", _deadlocks),
    ("rollbacks", _rollbacks),
    ("size", _size),
    ("statements", _statements),
)
