"""Where the tests' databases and Redis live.

``TEST_BACKEND=sqlite`` (default): a SQLite file per test, copied from a
migrated and seeded template. ``TEST_BACKEND=postgresql``: a database per test
created from a template database on the server at ``TEST_DATABASE_URL``
(default: postgres on 127.0.0.1:5432), dropped afterwards. ``TEST_REDIS_URL``
(default redis://127.0.0.1:6379/0) is used by the PostgreSQL runs and the
Redis tests.

When a server cannot be reached the tests that need it are skipped with the
reason, except under ``CI=true``, where a missing service is a failure.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg
import pytest
from sqlalchemy.engine import make_url

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


def in_ci() -> bool:
    """True under CI, where a missing service fails instead of skipping."""
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def unavailable(service: str, url: str, reason: str) -> None:
    """Skip (locally) or fail (under CI) because ``service`` cannot be reached."""
    safe = make_url(url).render_as_string(hide_password=True)
    message = f"{service} unreachable at {safe}: {reason}"
    if in_ci():
        pytest.fail(f"{message} (CI=true: a missing service is a failure)", pytrace=False)
    pytest.skip(message)


def asyncpg_dsn(url: str) -> str:
    """A plain ``postgresql://`` DSN for asyncpg from any SQLAlchemy-style URL."""
    parsed = make_url(url).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)


def sqlalchemy_url(url: str, database: str) -> str:
    """The asyncpg SQLAlchemy URL of ``database`` on the server of ``url``."""
    parsed = make_url(url).set(drivername="postgresql+asyncpg", database=database)
    return parsed.render_as_string(hide_password=False)


async def _admin(statement: str) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(postgres_admin_url()), timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def check_postgres() -> None:
    """Skip or fail unless the test PostgreSQL answers."""
    try:
        asyncio.run(_admin("SELECT 1"))
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        unavailable("PostgreSQL", postgres_admin_url(), f"{type(error).__name__}: {error}")


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
    """Create a database (optionally from a template); returns its SQLAlchemy URL."""
    suffix = f" TEMPLATE {template}" if template else ""
    asyncio.run(_admin(f'CREATE DATABASE "{name}"{suffix}'))
    return sqlalchemy_url(postgres_admin_url(), name)


def drop_database(name: str) -> None:
    """Drop a database, disconnecting anyone still attached."""
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextmanager
def throwaway_database(prefix: str, template: str | None = None) -> Iterator[str]:
    """A new database (a copy of ``template`` if given); yields its URL, drops it after."""
    name = new_database_name(prefix)
    url = create_database(name, template)
    try:
        yield url
    finally:
        drop_database(name)
