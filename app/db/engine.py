"""Engine and session factory for PostgreSQL (asyncpg) and SQLite (aiosqlite).

Write transactions are serialized where it matters: on PostgreSQL by row locks
(``SELECT ... FOR UPDATE``) taken by the services; on SQLite by opening every
transaction with ``BEGIN IMMEDIATE`` so two processes never both read and then
both try to upgrade to a write lock.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

SQLITE_BUSY_TIMEOUT_MS = 30_000
PING_IDLE_SECONDS = 5.0
"""A pooled connection idle longer than this is pinged before use (see :func:`_ping_when_idle`)."""


def create_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> AsyncEngine:
    """Create an async engine with the per-backend settings this service relies on."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, echo=echo)
    # No overflow: a connection opened past the pool's size is closed again on its
    # return, so under a burst every request beyond it paid a fresh connection (TCP,
    # the SSL probe, authentication) -- about a tenth of a worker's CPU at saturation.
    # A request past the size waits for a pooled connection instead.
    engine = create_async_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=0,
        pool_recycle=1800,
    )
    _ping_when_idle(engine)
    return engine


def _ping_when_idle(engine: AsyncEngine) -> None:
    """Ping a pooled connection before use only when it sat idle for a while.

    SQLAlchemy's ``pool_pre_ping`` pings on every checkout -- with asyncpg that is
    ``BEGIN; ROLLBACK``, two round trips, and an order checks out two connections. A
    connection that was in use moments ago is as good as a pinged one; one that sat
    idle (the server restarted meanwhile, a firewall dropped it) is pinged, and a
    failed ping makes the pool connect afresh, as pre-ping would.
    """
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info["checked_in_at"] = time.monotonic()

    @event.listens_for(sync_engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        checked_in_at = record.info.get("checked_in_at")
        if checked_in_at is None or time.monotonic() - checked_in_at < PING_IDLE_SECONDS:
            return
        try:
            sync_engine.dialect.do_ping(dbapi_connection)
        except Exception as error:  # any failure: the pool replaces the connection
            raise DisconnectionError(str(error)) from error


def create_read_engine(url: str, *, echo: bool = False) -> AsyncEngine | None:
    """A second engine for read-only work where the backend needs one (SQLite), else None.

    Its connections run in autocommit mode: each statement reads the latest
    committed data without taking the write lock, as PostgreSQL's READ
    COMMITTED does, instead of pinning one snapshot for the whole request.
    """
    if make_url(url).get_backend_name() != "sqlite":
        return None
    return _sqlite_engine(url, echo=echo, begin=None)


def _sqlite_engine(url: str, *, echo: bool, begin: str | None = "BEGIN IMMEDIATE") -> AsyncEngine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(
        url,
        echo=echo,
        poolclass=NullPool,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
    )
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    if begin is not None:

        @event.listens_for(sync_engine, "begin")
        def _on_begin(connection: Any) -> None:
            connection.exec_driver_sql(begin)

    return engine


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


class Database:
    """The engines of one database and the session factories the app uses."""

    def __init__(self, url: str, *, pool_size: int = 10, echo: bool = False) -> None:
        self.url = url
        self.engine = create_engine(url, pool_size=pool_size, echo=echo)
        self.read_engine = create_read_engine(url, echo=echo)
        self.sessions = create_sessionmaker(self.engine)
        # Read-only work on PostgreSQL runs in autocommit: READ COMMITTED gives every
        # statement its own snapshot anyway, so skipping BEGIN and COMMIT changes no
        # answer and saves two round trips a request (the pool is the same).
        self.read_sessions = create_sessionmaker(
            self.read_engine or self.engine.execution_options(isolation_level="AUTOCOMMIT")
        )

    @property
    def read_engine_or_engine(self) -> AsyncEngine:
        """The engine read-only work should use."""
        return self.read_engine or self.engine

    @property
    def dialect(self) -> str:
        """``postgresql`` or ``sqlite``."""
        return self.engine.dialect.name

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()
        if self.read_engine is not None:
            await self.read_engine.dispose()
