"""Pooled connections that died while idle are replaced before use, not handed out; a
burst past the pool's size waits for its connections instead of opening and closing more.

The pool pings a connection only when it sat idle for
:data:`app.db.engine.PING_IDLE_SECONDS` (pinging every checkout costs two round
trips); here the server drops every connection of the database while the pool
holds them, and the next request must still be answered.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import event, text

from app.db import engine as engine_module
from app.db.engine import Database
from tests.support import backends


async def _drop_connections(database: str) -> None:
    import asyncpg

    admin = await asyncpg.connect(backends.asyncpg_dsn(backends.postgres_admin_url()))
    try:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()",
            database,
        )
    finally:
        await admin.close()


async def test_a_connection_dropped_while_idle_is_replaced(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "PING_IDLE_SECONDS", 0.2)
    database = Database(pg_url)
    try:
        for sessions in (database.sessions, database.read_sessions):
            async with sessions() as session:
                assert await session.scalar(text("SELECT 1")) == 1
        await _drop_connections(database.engine.url.database or "")
        await asyncio.sleep(0.3)
        for sessions in (database.read_sessions, database.sessions):
            async with sessions() as session:
                assert await session.scalar(text("SELECT 2")) == 2
    finally:
        await database.dispose()


async def test_a_burst_past_the_pool_reuses_its_connections(pg_url: str) -> None:
    database = Database(pg_url, pool_size=2)
    opened: list[object] = []
    event.listen(database.engine.sync_engine, "connect", lambda *_: opened.append(1))

    async def one_request() -> None:
        async with database.sessions() as session:
            await session.execute(text("SELECT pg_sleep(0.02)"))

    try:
        for _ in range(3):
            await asyncio.gather(*(one_request() for _ in range(8)))
        # An overflow connection is closed on its return: each burst would open more.
        assert len(opened) == 2, f"{len(opened)} connections opened for a pool of 2"
    finally:
        await database.dispose()
