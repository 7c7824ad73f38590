"""Migrations: reversible, and the models never drift from them."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from app.db import migrate
from app.db.engine import create_engine
from app.db.models import Base

EXPECTED_TABLES = {
    "alembic_version",
    "users",
    "accounts",
    "instruments",
    "orders",
    "fills",
    "positions",
    "ledger_entries",
}


@pytest.fixture(params=["postgresql", "sqlite"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    url: str = request.getfixturevalue("empty_pg_url")
    return url


async def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return set(await connection.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await engine.dispose()


async def _drift(url: str) -> list[object]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(
                lambda c: compare_metadata(
                    MigrationContext.configure(c, opts={"compare_type": True}), Base.metadata
                )
            )
    finally:
        await engine.dispose()


async def test_upgrade_downgrade_upgrade(empty_url: str) -> None:
    engine = create_engine(empty_url)
    try:
        await migrate.upgrade_engine(engine)
        assert await migrate.current_revision(engine) == migrate.head_revision()
        await migrate.downgrade_engine(engine, "base")
        assert await migrate.current_revision(engine) is None
        await migrate.upgrade_engine(engine)
        assert await migrate.current_revision(engine) == migrate.head_revision()
    finally:
        await engine.dispose()
    assert await _tables(empty_url) == EXPECTED_TABLES


async def test_downgrade_leaves_nothing_behind(empty_url: str) -> None:
    engine = create_engine(empty_url)
    try:
        await migrate.upgrade_engine(engine)
        await migrate.downgrade_engine(engine, "base")
    finally:
        await engine.dispose()
    assert await _tables(empty_url) <= {"alembic_version"}


async def test_models_match_the_migrations(empty_url: str) -> None:
    engine = create_engine(empty_url)
    try:
        await migrate.upgrade_engine(engine)
    finally:
        await engine.dispose()
    assert await _drift(empty_url) == []


def test_every_migration_has_a_downgrade() -> None:
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(migrate.alembic_config())
    for revision in scripts.walk_revisions():
        source = Path(revision.path).read_text()
        assert "def downgrade() -> None:" in source
        assert "    pass\n" not in source.split("def downgrade() -> None:")[1], revision.revision


async def test_drift_check_detects_a_model_change(empty_url: str) -> None:
    from sqlalchemy import Column, Integer, MetaData

    engine = create_engine(empty_url)
    try:
        await migrate.upgrade_engine(engine)
        changed = MetaData(naming_convention=Base.metadata.naming_convention)
        for table in Base.metadata.tables.values():
            table.to_metadata(changed)
        changed.tables["users"].append_column(Column("nickname", Integer, nullable=True))
        async with engine.connect() as connection:
            diff = await connection.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c), changed)
            )
    finally:
        await engine.dispose()
    assert any("nickname" in str(entry) for entry in diff), diff
