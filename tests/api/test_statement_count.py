"""Placing an order runs a bounded number of SQL statements, however much it trades.

On PostgreSQL the service places an order with one statement and no transaction
control: ``SELECT * FROM place_order(...)`` sent on the driver's connection outside a
transaction block (migration 0003), counted here at the driver; a cancel likewise is
``SELECT * FROM cancel_order(...)`` (migration 0004). The Python
reference path, the only one on SQLite, is bounded as follows (the tests below force it
on both backends). An order that trades runs
:data:`app.services.orders.TRADE_STATEMENTS` (10): lock the
instrument with the idempotency lookup; read the crossing orders; lock the accounts
and read their positions; insert the order, the fills and the ledger entries; update
the makers, the last price, the accounts and the positions. A party's first order in
an instrument also creates its position and locks again: the bound,
:data:`app.services.orders.MAX_PLACE_STATEMENTS`, is 12 (it was 13). Rows that do not
change are not written: a resting order writes itself and one reservation.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal as D
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect

from app.db.engine import Database
from app.domain.enums import OrderStatus, OrderType, Side, TimeInForce
from app.services import accounts, cancels
from app.services.cancels import MAX_CANCEL_STATEMENTS
from app.services.orders import (
    MAX_PLACE_STATEMENTS,
    TRADE_STATEMENTS,
    OrderRequest,
    PlaceResult,
    place_order,
)
from tests.support.app import Party

COLLAR = D("0.05")


@contextmanager
def listening(database: Database, name: str, listener: Callable[..., None]) -> Iterator[None]:
    """``listener`` attached to the engine's event ``name`` for the block."""
    target = database.engine.sync_engine
    event.listen(target, name, listener)
    try:
        yield
    finally:
        event.remove(target, name, listener)


@contextmanager
def counting(database: Database) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement.split()[0].upper())

    with listening(database, "before_cursor_execute", record):
        yield statements


@contextmanager
def counting_at_the_driver(database: Database) -> Iterator[list[str]]:
    """Every query sent by asyncpg's own calls on a connection checked out meanwhile:
    the service's direct calls and SQLAlchemy's BEGIN and COMMIT (SQLAlchemy's prepared
    statements are not logged there; :func:`counting` sees those)."""
    queries: list[str] = []
    logged: list[Any] = []

    def log(record: Any) -> None:
        queries.append(" ".join(record.query.split()))

    def checked_out(_dbapi_connection: Any, entry: Any, _proxy: Any) -> None:
        driver = entry.driver_connection
        if driver not in logged:
            driver.add_query_logger(log)
            logged.append(driver)

    try:
        with listening(database, "checkout", checked_out):
            yield queries
    finally:
        for driver in logged:
            driver.remove_query_logger(log)


def limit(side: Side, qty: str, price: str, client_order_id: str | None = None) -> OrderRequest:
    return OrderRequest(
        symbol="AAPL",
        side=side,
        order_type=OrderType.LIMIT,
        qty=D(qty),
        limit_price=D(price),
        time_in_force=TimeInForce.GTC,
        client_order_id=client_order_id,
    )


async def place(database: Database, party: Party, request: OrderRequest) -> PlaceResult:
    """Place through the Python reference path (the one these bounds are about)."""
    return await place_order(
        database.sessions, party.account_id, request, collar=COLLAR, in_database=False
    )


async def place_counted(
    database: Database, party: Party, request: OrderRequest
) -> tuple[PlaceResult, list[str]]:
    """Place an order; returns it and the statements it ran, transaction control left out."""
    with counting(database) as statements:
        result = await place(database, party, request)
    control = {"BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT"}
    return result, [s for s in statements if s not in control]


@pytest.mark.parametrize("makers", [0, 1, 20])
async def test_bounded_statements_whatever_the_fill_count(
    database: Database, alice: Party, bob: Party, makers: int
) -> None:
    for index in range(makers):
        await place(database, bob, limit(Side.SELL, "1", f"{200 + index}"))
    result, executed = await place_counted(database, alice, limit(Side.BUY, "25", "300", "cnt"))
    assert result.fill_count == makers
    assert len(executed) <= MAX_PLACE_STATEMENTS, executed
    if makers:
        assert len(executed) == TRADE_STATEMENTS, "every table written once"
    else:
        assert executed == ["SELECT", "SELECT", "SELECT", "INSERT", "UPDATE"], (
            "a resting buy writes itself and the buyer's reserved cash, nothing else"
        )


async def test_a_first_order_in_an_instrument_creates_the_position(
    database: Database, admin: Party, bob: Party
) -> None:
    await accounts.deposit(database.sessions, admin.account_id, D("100000"), "test")
    await place(database, bob, limit(Side.SELL, "1", "200"))
    result, executed = await place_counted(database, admin, limit(Side.BUY, "1", "300", "first"))
    assert result.fill_count == 1
    assert len(executed) == MAX_PLACE_STATEMENTS, executed


async def test_rejected_and_replayed_orders_are_cheaper(database: Database, alice: Party) -> None:
    too_big = limit(Side.BUY, "1000000", "300", "big")
    rejected, executed = await place_counted(database, alice, too_big)
    assert rejected.order.status is OrderStatus.REJECTED
    assert len(executed) <= MAX_PLACE_STATEMENTS

    replay, executed = await place_counted(database, alice, too_big)
    assert replay.replayed
    assert executed == ["SELECT"], "the lookup rides on the instrument lock"


@pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
async def test_a_cancel_runs_four_statements_and_writes_only_what_changes(
    database: Database, alice: Party, side: Side
) -> None:
    resting = await place(database, alice, limit(side, "2", "150" if side is Side.BUY else "250"))
    with counting(database) as statements:
        canceled = await cancels.cancel_order(
            database.sessions, alice.account_id, resting.order.id, in_database=False
        )
    executed = [s for s in statements if s not in {"BEGIN", "COMMIT", "ROLLBACK"}]
    assert canceled.status is OrderStatus.CANCELED
    assert len(executed) == MAX_CANCEL_STATEMENTS, executed
    assert executed == ["SELECT", "SELECT", "UPDATE", "UPDATE"], (
        "lock the book, read the order, cancel it, release the buyer's cash or the "
        "seller's quantity (not both)"
    )


@pytest.mark.parametrize("makers", [0, 3])
async def test_on_postgresql_an_order_or_a_cancel_is_one_statement_and_no_transaction_control(
    database: Database,
    alice: Party,
    bob: Party,
    makers: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if database.dialect != "postgresql":
        pytest.skip("the place_order function exists on PostgreSQL only")
    # Out of reach of the buy below; it also leaves a pooled connection set up.
    await place(database, bob, limit(Side.SELL, "1", "900"))
    for index in range(makers):
        await place(database, bob, limit(Side.SELL, "1", f"{200 + index}"))
    began: list[object] = []
    adapter = asyncpg_dialect.AsyncAdapt_asyncpg_connection
    start: Callable[[Any], Awaitable[None]] = adapter._start_transaction

    async def counted_start(self: Any) -> None:
        if self.isolation_level != "autocommit":  # else SQLAlchemy's call sends nothing
            began.append(self)
        await start(self)

    monkeypatch.setattr(adapter, "_start_transaction", counted_start)
    with counting(database) as through_sqlalchemy, counting_at_the_driver(database) as sent:
        result = await place_order(
            database.sessions, alice.account_id, limit(Side.BUY, "25", "300"), collar=COLLAR
        )
    assert result.fill_count == makers
    assert [query.split("(")[0] for query in sent] == ["SELECT * FROM place_order"], sent
    assert through_sqlalchemy == [], "nothing but the function's call"
    assert began == [], "no BEGIN and COMMIT round trips"

    resting = await place(database, alice, limit(Side.BUY, "1", "100"))
    with counting(database) as through_sqlalchemy, counting_at_the_driver(database) as sent:
        canceled = await cancels.cancel_order(database.sessions, alice.account_id, resting.order.id)
    assert canceled.status is OrderStatus.CANCELED
    assert [query.split("(")[0] for query in sent] == ["SELECT * FROM cancel_order"], sent
    assert through_sqlalchemy == [], "a cancel, too, is the function's call alone"


async def test_the_driver_count_sees_what_sqlalchemy_sends(
    database: Database, alice: Party
) -> None:
    """The counts above can fail: the Python path's transaction control shows at the
    driver, and its statements through SQLAlchemy."""
    if database.dialect != "postgresql":
        pytest.skip("counted at asyncpg's connection")
    await place(database, alice, limit(Side.BUY, "1", "150"))  # a pooled connection exists
    with counting(database) as through_sqlalchemy, counting_at_the_driver(database) as sent:
        await place(database, alice, limit(Side.BUY, "1", "151"))
    assert sent == ["BEGIN;", "COMMIT;"]
    assert through_sqlalchemy == ["SELECT", "SELECT", "SELECT", "INSERT", "UPDATE"]
