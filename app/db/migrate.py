"""Run Alembic migrations programmatically; the only way the schema is created."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import ModuleType

from alembic import command, op
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.engine import create_engine

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def alembic_config(url: str | None = None, connection: Connection | None = None) -> Config:
    """An Alembic config pointing at this package's migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision the code knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError("no migrations found")
    return head


def revision_module(revision: str) -> ModuleType:
    """The module of one revision, loaded: a later revision that replaces a function
    builds on the earlier one's SQL text instead of repeating it."""
    script = ScriptDirectory.from_config(alembic_config()).get_revision(revision)
    if script is None:
        raise RuntimeError(f"no revision {revision}")
    return script.module


def on_postgresql(*statements: str) -> None:
    """Run ``statements`` in the migration under way, on PostgreSQL only: the trading
    functions exist there alone (SQLite keeps the Python path)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in statements:
        op.execute(statement)


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at (None when it has never been migrated)."""
    async with engine.connect() as connection:
        return await connection.run_sync(_current)


async def upgrade_engine(engine: AsyncEngine, revision: str = "head") -> None:
    """Upgrade the database behind ``engine``."""
    async with engine.connect() as connection:
        await connection.run_sync(
            lambda sync: command.upgrade(alembic_config(connection=sync), revision)
        )
        await connection.commit()


async def downgrade_engine(engine: AsyncEngine, revision: str) -> None:
    """Downgrade the database behind ``engine``."""
    async with engine.connect() as connection:
        await connection.run_sync(
            lambda sync: command.downgrade(alembic_config(connection=sync), revision)
        )
        await connection.commit()


async def _with_engine_upgrade(url: str, revision: str, downgrade: bool) -> str | None:
    engine = create_engine(url)
    try:
        if downgrade:
            await downgrade_engine(engine, revision)
        else:
            await upgrade_engine(engine, revision)
        return await current_revision(engine)
    finally:
        await engine.dispose()


def upgrade(url: str, revision: str = "head") -> str | None:
    """Upgrade the database at ``url``; returns the revision it ends at."""
    return asyncio.run(_with_engine_upgrade(url, revision, downgrade=False))


def downgrade(url: str, revision: str) -> str | None:
    """Downgrade the database at ``url``; returns the revision it ends at."""
    return asyncio.run(_with_engine_upgrade(url, revision, downgrade=True))
