"""PostgreSQL's ``place_order`` reads the book only as far as an order needs, under the
plans it keeps: since migration 0006 it runs with ``plan_cache_mode =
force_generic_plan``, and ``trading_crossing_makers`` reads through bound cursors so
that a generic plan still walks ``ix_orders_book`` in price-time order and stops early.

auto_explain, at notice level and with ANALYZE, reports the rows each nested statement
read: an order for one share against a book of 120 orders it could all cross must read
one of them on the ask side. On the bid side ``ix_orders_book`` runs backwards as
``id DESC``, not the ``id`` ascending that time priority needs, so an incremental sort
restores it -- and PostgreSQL's incremental sort reads its first 32 rows (and one to
see past them) before it knows how large a price's group is: at most 33, however deep
the book. With 0005's crossing read under the same plan mode the plan is a bitmap scan
and a sort of the whole side: 120 rows.

The book is analyzed first, as autovacuum does in service. With no statistics at all
the planner sorts the whole bid side instead -- under 0005's custom plans too.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import asyncpg
import pytest

from app.services import order_statements as sql
from tests.support import backends

DEPTH = 120
READ_AT_MOST = {"buy": 1, "sell": 33}
"""Rows the crossing read may take, by the taker's side (see above)."""
ROWS_READ = re.compile(r"actual time=[0-9.]+\.\.[0-9.]+ rows=([0-9]+)")


@pytest.fixture
async def connection(pg_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A driver connection to a private copy of the seeded template."""
    connection = await asyncpg.connect(backends.asyncpg_dsn(pg_url))
    try:
        yield connection
    finally:
        await connection.close()


async def _account(connection: asyncpg.Connection, email: str) -> int:
    found = await connection.fetchval(
        "SELECT a.id FROM accounts a JOIN users u ON u.id = a.user_id WHERE u.email = $1", email
    )
    assert found is not None, email
    return int(found)


async def _place(
    connection: asyncpg.Connection, account_id: int, side: str, price: Decimal
) -> asyncpg.Record:
    row = await connection.fetchrow(
        sql.PLACE_IN_DATABASE, None, account_id, "AAPL", side, "limit", "GTC", Decimal(1),
        price, None, "plan-test", Decimal("0.05"), datetime.now(UTC),
    )  # fmt: skip
    assert row is not None
    return row


async def _explained(connection: asyncpg.Connection) -> list[str]:
    """Every later statement's plan, nested ones included, as notices on ``connection``."""
    notices: list[str] = []
    connection.add_log_listener(lambda _c, message: notices.append(str(message.message)))
    for setting in (
        "LOAD 'auto_explain'",
        "SET auto_explain.log_min_duration = 0",
        "SET auto_explain.log_analyze = on",
        "SET auto_explain.log_timing = on",
        "SET auto_explain.log_nested_statements = on",
        "SET auto_explain.log_level = notice",
    ):
        await connection.execute(setting)
    return notices


@pytest.mark.parametrize(
    ("maker_side", "taker_side", "bound"),
    [("sell", "buy", Decimal("195.00")), ("buy", "sell", Decimal("185.00"))],
)
async def test_an_order_reads_only_the_makers_it_takes(
    connection: asyncpg.Connection, maker_side: str, taker_side: str, bound: Decimal
) -> None:
    maker = await _account(connection, "bob@example.com")
    taker = await _account(connection, "alice@example.com")
    step = Decimal("0.01") if maker_side == "sell" else Decimal("-0.01")
    for i in range(DEPTH):  # every one of them within the taker's bound
        await _place(connection, maker, maker_side, Decimal("190.00") + step * i)
    await connection.execute("ANALYZE orders")  # as autovacuum does; it replans kept plans
    notices = await _explained(connection)

    row = await _place(connection, taker, taker_side, bound)

    assert row[sql.RESULT_PREFIX + "fills"] == 1
    assert row[sql.RESULT_PREFIX + "status"] == "filled"
    crossing = [n for n in notices if re.search(r"limit_price [<>]= p_bound", n)]
    assert len(crossing) == 1, notices
    read = [int(rows) for rows in ROWS_READ.findall(crossing[0])]
    assert read, crossing[0]
    taken, limit = max(read), READ_AT_MOST[taker_side]
    assert taken <= limit, f"the crossing read took {taken} of {DEPTH} rows:\n{crossing[0]}"
