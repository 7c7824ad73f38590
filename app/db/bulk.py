"""Writing many rows in one statement, outside the ORM unit of work."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Base


def _table(model: type[Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


async def insert_missing(
    session: AsyncSession,
    model: type[Base],
    rows: Sequence[dict[str, object]],
    *,
    unique: Sequence[str],
) -> None:
    """INSERT the rows whose ``unique`` columns are not taken yet, as one statement."""
    insert_class = (
        sqlite.Insert if session.get_bind().dialect.name == "sqlite" else postgresql.Insert
    )
    await session.execute(
        insert_class(_table(model)).values(list(rows)).on_conflict_do_nothing(index_elements=unique)
    )
