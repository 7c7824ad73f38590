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
from app.services.orders import MAX_PLACE_STATEMENTS, OrderRequest, place_order
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


async def _rest_sells(database: Database, party: Party, count: int) -> None:
    for index in range(count):
        await place_order(
            database.sessions,
            party.account_id,
            limit(Side.SELL, "1", f"{200 + index}"),
            collar=COLLAR,
        )


def _without_transaction_control(statements: list[str]) -> list[str]:
    return [s for s in statements if s not in {"BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT"}]


@pytest.mark.parametrize("makers", [0, 1, 20])
async def test_bounded_statements_whatever_the_fill_count(
    database: Database, alice: Party, bob: Party, makers: int
) -> None:
    await _rest_sells(database, bob, makers)
    with counting(database) as statements:
        result = await place_order(
            database.sessions,
            alice.account_id,
            limit(Side.BUY, "25", "300", "cnt"),
            collar=COLLAR,
        )
    assert len(result.fills) == makers
    executed = _without_transaction_control(statements)
    assert len(executed) <= MAX_PLACE_STATEMENTS, executed
    if makers:
        assert len(executed) == MAX_PLACE_STATEMENTS, "every table written once"


async def test_rejected_and_replayed_orders_are_cheaper(database: Database, alice: Party) -> None:
    with counting(database) as statements:
        rejected = await place_order(
            database.sessions,
            alice.account_id,
            limit(Side.BUY, "1000000", "300", "big"),
            collar=COLLAR,
        )
    assert rejected.order.status is OrderStatus.REJECTED
    assert len(_without_transaction_control(statements)) <= MAX_PLACE_STATEMENTS

    with counting(database) as statements:
        replay = await place_order(
            database.sessions,
            alice.account_id,
            limit(Side.BUY, "1000000", "300", "big"),
            collar=COLLAR,
        )
    assert replay.replayed
    assert len(_without_transaction_control(statements)) == 2
