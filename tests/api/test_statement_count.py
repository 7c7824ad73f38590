"""Placing an order runs a bounded number of SQL statements, however much it trades.

The bound is :data:`app.services.orders.MAX_PLACE_STATEMENTS` (13): lock the
instrument; idempotency lookup; read the crossing orders; lock the accounts;
ensure and lock the positions (2); insert the order; insert fills; insert ledger
entries; update makers; update accounts; update positions; update last price.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal as D
from typing import Any

import pytest
from sqlalchemy import event

from app.db.engine import Database
from app.domain.enums import OrderStatus, OrderType, Side, TimeInForce
from app.services.orders import MAX_PLACE_STATEMENTS, OrderRequest, PlaceResult, place_order
from tests.support.app import Party

COLLAR = D("0.05")


@contextmanager
def counting(database: Database) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement.split()[0].upper())

    target = database.engine.sync_engine
    event.listen(target, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(target, "before_cursor_execute", record)


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
    return await place_order(database.sessions, party.account_id, request, collar=COLLAR)


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
    assert len(result.fills) == makers
    assert len(executed) <= MAX_PLACE_STATEMENTS, executed
    if makers:
        assert len(executed) == MAX_PLACE_STATEMENTS, "every table written once"


async def test_rejected_and_replayed_orders_are_cheaper(database: Database, alice: Party) -> None:
    too_big = limit(Side.BUY, "1000000", "300", "big")
    rejected, executed = await place_counted(database, alice, too_big)
    assert rejected.order.status is OrderStatus.REJECTED
    assert len(executed) <= MAX_PLACE_STATEMENTS

    replay, executed = await place_counted(database, alice, too_big)
    assert replay.replayed
    assert len(executed) == 2
