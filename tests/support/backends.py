"""Where the tests' databases and Redis live.

``TEST_BACKEND=sqlite`` (default): a SQLite file per test, copied from a
migrated and seeded template. ``TEST_BACKEND=postgresql``: a database per test
created from a template database on the server at ``TEST_DATABASE_URL``
(default: postgres on 127.0.0.1:5432), dropped afterwards. ``TEST_REDIS_URL``
(default redis://127.0.0.1:6379/0) is used by the PostgreSQL runs and the
Redis tests. Databases are created and dropped with the same functions the
backups and drills use (:mod:`ops.backup.postgres`).

When a server cannot be reached the tests that need it are skipped with the
reason, except under ``CI=true``, where a missing service is a failure.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy.engine import make_url

from ops.backup import postgres
from ops.core.exits import OpsError
from tests.support import needs

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


def backend() -> str:
    """``sqlite`` or ``postgresql``."""
    value = os.environ.get("TEST_BACKEND", "sqlite").lower()
    if value not in {"sqlite", "postgresql"}:
        raise pytest.UsageError(f"TEST_BACKEND must be sqlite or postgresql, not {value!r}")
    return value


def postgres_admin_url() -> str:
    """URL of a database on the test server with rights to create databases."""
    return os.environ.get("TEST_DATABASE_URL", DEFAULT_POSTGRES)


def redis_url() -> str:
    """URL of the test Redis."""
    return os.environ.get("TEST_REDIS_URL", DEFAULT_REDIS)


def unavailable(service: str, url: str, reason: str) -> None:
    """Skip (locally) or fail (under CI) because ``service`` cannot be reached."""
    safe = make_url(url).render_as_string(hide_password=True)
    needs.missing(f"{service} unreachable at {safe}: {reason}")


def asyncpg_dsn(url: str) -> str:
    """A plain ``postgresql://`` DSN for asyncpg from any SQLAlchemy-style URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def sqlalchemy_url(url: str, database: str | None = None) -> str:
    """The app's (asyncpg) SQLAlchemy URL of ``database`` (default: the same one)."""
    parsed = make_url(url).set(drivername="postgresql+asyncpg")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


async def _ping() -> None:
    connection = await postgres.connect(postgres_admin_url())
    await connection.close()


def check_postgres() -> None:
    """Skip or fail unless the test PostgreSQL answers."""
    try:
        asyncio.run(_ping())
    except OpsError as error:
        unavailable("PostgreSQL", postgres_admin_url(), str(error))


def check_redis() -> None:
    """Skip or fail unless the test Redis answers."""
    import redis

    try:
        redis.Redis.from_url(redis_url(), socket_connect_timeout=2).ping()
    except (OSError, redis.RedisError) as error:
        unavailable("Redis", redis_url(), f"{type(error).__name__}: {error}")


def new_database_name(prefix: str) -> str:
    """A unique, valid database name."""
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def create_database(name: str, template: str | None = None) -> str:
    """Create a database (a copy of ``template`` if given); returns its SQLAlchemy URL."""
    url = asyncio.run(postgres.create_database(postgres_admin_url(), name, template or "template0"))
    return sqlalchemy_url(url)


def drop_database(name: str) -> None:
    """Drop a database, disconnecting anyone still attached."""
    asyncio.run(postgres.drop_database(postgres_admin_url(), name))


@contextmanager
def throwaway_database(prefix: str, template: str | None = None) -> Iterator[str]:
    """A new database (a copy of ``template`` if given); yields its URL, drops it after."""
    name = new_database_name(prefix)
    url = create_database(name, template)
    try:
        yield url
    finally:
        drop_database(name)
