"""Facts about a database (tables, row counts, migration revision, newest data) and
how to reach it: which backend a URL names, the libpq and asyncpg forms of it."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from ops.backup.errors import BackupCannotRun, BackupCheckFailed
from ops.backup.manifest import DatabaseFacts

Backend = Literal["postgresql", "sqlite"]
# Tables whose newest row (highest id) carries the time of the newest data.
NEWEST_TABLES = ("orders", "fills", "ledger_entries", "users", "accounts")
PG_USER_TABLES = """
SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
ORDER BY 1, 2
"""
PG_ANY_RELATION = """
SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
"""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Row counts per table, the Alembic revision and the newest row's time."""

    row_counts: dict[str, int]
    migration_revision: str | None
    newest_data_at: datetime | None


def parse_url(url: str) -> URL:
    """A SQLAlchemy URL; one-line error when ``url`` is not one."""
    try:
        return make_url(url)
    except ArgumentError:
        raise BackupCannotRun(
            "not a database URL (expected postgresql://... or sqlite:///...)"
        ) from None


def backend_of(url: str) -> Backend:
    """``postgresql`` or ``sqlite``; one-line error for anything else."""
    name = parse_url(url).get_backend_name()
    if name in {"postgresql", "sqlite"}:
        return name  # type: ignore[return-value]
    raise BackupCannotRun(f"unsupported database {safe_url(url)} (PostgreSQL or SQLite only)")


def safe_url(url: str) -> str:
    """The URL with its password hidden, for messages and manifests."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<invalid URL>"


def sqlite_path(url: str) -> Path:
    """The file of a SQLite URL."""
    database = parse_url(url).database
    if not database or database == ":memory:":
        raise BackupCannotRun("a SQLite backup needs a database file, not an in-memory database")
    return Path(database)


def asyncpg_dsn(url: str) -> str:
    """A ``postgresql://`` DSN for asyncpg (password included: never print it)."""
    return parse_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def libpq_target(url: str) -> tuple[str, dict[str, str]]:
    """A libpq URI without the password, and the environment that carries it."""
    parsed = parse_url(url)
    bare = URL.create(
        "postgresql", parsed.username, None, parsed.host, parsed.port, parsed.database, parsed.query
    )
    env = {"PGPASSWORD": str(parsed.password)} if parsed.password else {}
    return bare.render_as_string(hide_password=False), env


def same_database(first: str, second: str) -> bool:
    """True when two URLs name the same database (driver and password ignored)."""
    a, b = parse_url(first), parse_url(second)
    if a.get_backend_name() != b.get_backend_name():
        return False
    if a.get_backend_name() == "sqlite":
        return Path(a.database or "").resolve() == Path(b.database or "").resolve()
    key_a = (a.host or "localhost", a.port or 5432, a.database)
    return key_a == (b.host or "localhost", b.port or 5432, b.database)


def quote(identifier: str) -> str:
    """A SQL identifier, double-quoted."""
    return '"' + identifier.replace('"', '""') + '"'


def count_sql(*names: str) -> str:
    """``SELECT count(*)`` of a table the catalog named (schema and table quoted)."""
    table = ".".join(quote(name) for name in names)
    return f"SELECT count(*) FROM {table}"  # noqa: S608 - quoted catalog names


def newest_sql(table: str) -> str:
    """The ``created_at`` of a table's highest id (its newest row)."""
    return f"SELECT created_at FROM {quote(table)} ORDER BY id DESC LIMIT 1"  # noqa: S608


def _as_utc(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def newest(values: list[Any]) -> datetime | None:
    """The latest of some timestamps (naive ones are UTC), or None."""
    times = [t for t in (_as_utc(v) for v in values) if t is not None]
    return max(times) if times else None


async def pg_snapshot(connection: Any) -> Snapshot:
    """Facts of the PostgreSQL database behind an asyncpg connection (in its snapshot)."""
    counts: dict[str, int] = {}
    for schema, table in await connection.fetch(PG_USER_TABLES):
        name = table if schema == "public" else f"{schema}.{table}"
        counts[name] = await connection.fetchval(count_sql(schema, table))
    revision = None
    if "alembic_version" in counts:
        revision = await connection.fetchval("SELECT max(version_num) FROM alembic_version")
    stamps = [await connection.fetchval(newest_sql(t)) for t in NEWEST_TABLES if counts.get(t)]
    return Snapshot(counts, revision, newest(stamps))


async def pg_is_empty(connection: Any) -> bool:
    """True when the database holds no user relation at all."""
    return int(await connection.fetchval(PG_ANY_RELATION)) == 0


def sqlite_snapshot(connection: sqlite3.Connection) -> Snapshot:
    """Facts of a SQLite database."""
    tables = [
        row[0]
        for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
    ]
    counts = {t: int(connection.execute(count_sql(t)).fetchone()[0]) for t in tables}
    revision = None
    if "alembic_version" in counts:
        revision = connection.execute("SELECT max(version_num) FROM alembic_version").fetchone()[0]
    stamps = [
        connection.execute(newest_sql(t)).fetchone()[0] for t in NEWEST_TABLES if counts.get(t)
    ]
    return Snapshot(counts, revision, newest(stamps))


def sqlite_is_empty(path: Path) -> bool:
    """True when the file is missing, empty, or holds no table."""
    if not path.exists() or path.stat().st_size == 0:
        return True
    uri = f"{path.resolve().as_uri()}?mode=ro"
    with closing(sqlite3.connect(uri, uri=True)) as connection:
        row = connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
    return int(row[0]) == 0


def compare_counts(expected: dict[str, int], actual: dict[str, int]) -> list[str]:
    """Tables whose row count differs from the manifest, one line each."""
    problems = []
    for table, count in sorted(expected.items()):
        found = actual.get(table)
        if found is None:
            problems.append(f"{table}: missing (manifest has {count} rows)")
        elif found != count:
            problems.append(f"{table}: {found} rows, manifest has {count}")
    return problems


def check_against_manifest(expected: DatabaseFacts, found: Snapshot, what: str) -> list[str]:
    """The row counts and migration revision of ``what`` (a restored database, a backup's
    copy) must be those the manifest recorded; returns the checks, else raises
    :class:`~ops.backup.errors.BackupCheckFailed` naming the tables that differ."""
    differences = compare_counts(expected.row_counts, found.row_counts)
    if differences:
        raise BackupCheckFailed(
            f"{what} row counts differ from the manifest: {'; '.join(differences)}"
        )
    if found.migration_revision != expected.migration_revision:
        raise BackupCheckFailed(
            f"{what} migration revision {found.migration_revision} differs from the "
            f"manifest's {expected.migration_revision}"
        )
    return [
        f"row counts of {len(expected.row_counts)} tables match the manifest",
        f"migration revision {found.migration_revision} matches",
    ]
