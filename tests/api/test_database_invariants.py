"""The database itself refuses states that break the trading invariants."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal as D

import pytest
from sqlalchemy import Table, delete, insert, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.engine import Database
from app.db.models import Account, LedgerEntry, Order, Position
from app.domain.enums import OrderType, Side, TimeInForce
from app.services.cancels import cancel_order
from app.services.orders import OrderRequest, place_order
from tests.support.app import Party


async def _fails(database: Database, change: Callable[[AsyncSession], Awaitable[object]]) -> str:
    with pytest.raises((IntegrityError, DBAPIError)) as caught:
        async with database.sessions() as session, session.begin():
            await change(session)
    return str(caught.value)


async def _an_order(database: Database, party: Party, client_id: str = "inv-1") -> int:
    result = await place_order(
        database.sessions,
        party.account_id,
        OrderRequest(
            "AAPL", Side.BUY, OrderType.LIMIT, D("1"), D("100"), TimeInForce.GTC, client_id
        ),
        collar=D("0.05"),
    )
    return result.order.id


@pytest.mark.parametrize(
    ("column", "value", "constraint"),
    [
        ("cash", D("-0.01"), "cash_non_negative"),
        ("reserved_cash", D("-1"), "reserved_non_negative"),
        ("reserved_cash", D("99999999"), "reserved_within_cash"),
    ],
)
async def test_account_checks(
    database: Database, alice: Party, column: str, value: D, constraint: str
) -> None:
    message = await _fails(
        database,
        lambda s: s.execute(
            update(Account).where(Account.id == alice.account_id).values({column: value})
        ),
    )
    assert constraint in message or "CHECK" in message.upper()


async def test_position_cannot_go_negative_or_over_reserved(
    database: Database, alice: Party
) -> None:
    await _fails(
        database,
        lambda s: s.execute(
            update(Position).where(Position.account_id == alice.account_id).values(qty=D("-1"))
        ),
    )
    await _fails(
        database,
        lambda s: s.execute(
            update(Position)
            .where(Position.account_id == alice.account_id)
            .values(reserved_qty=D("100000"))
        ),
    )


async def test_order_fill_bounds(database: Database, alice: Party) -> None:
    order_id = await _an_order(database, alice)
    await _fails(
        database,
        lambda s: s.execute(update(Order).where(Order.id == order_id).values(filled_qty=D("2"))),
    )
    await _fails(
        database,
        lambda s: s.execute(update(Order).where(Order.id == order_id).values(filled_qty=D("-1"))),
    )


async def test_client_order_id_is_unique_per_account(database: Database, alice: Party) -> None:
    order_id = await _an_order(database, alice)

    async def duplicate(session: AsyncSession) -> None:
        table = Order.__table__
        assert isinstance(table, Table)
        row = (await session.execute(select(table).where(Order.id == order_id))).one()
        values = {k: v for k, v in row._mapping.items() if k != "id"}
        await session.execute(insert(table).values(values))

    message = await _fails(database, duplicate)
    assert "uq_orders_account_client_order" in message or "UNIQUE" in message.upper()


async def test_foreign_keys_are_enforced(database: Database) -> None:
    await _fails(
        database,
        lambda s: s.execute(
            insert(LedgerEntry).values(
                account_id=999_999, kind="deposit", asset="USD", amount=D("1"), note=""
            )
        ),
    )


async def test_ledger_is_append_only(database: Database, alice: Party) -> None:
    message = await _fails(
        database,
        lambda s: s.execute(update(LedgerEntry).values(amount=D("1000000000"))),
    )
    assert "append-only" in message
    message = await _fails(database, lambda s: s.execute(delete(LedgerEntry)))
    assert "append-only" in message


async def test_terminal_orders_never_change(database: Database, alice: Party) -> None:
    order_id = await _an_order(database, alice)
    await cancel_order(database.sessions, alice.account_id, order_id)
    message = await _fails(
        database,
        lambda s: s.execute(update(Order).where(Order.id == order_id).values(status="new")),
    )
    assert "terminal state" in message
    async with database.sessions() as session, session.begin():
        # Harmless columns of a terminal order may still be touched.
        await session.execute(
            text("UPDATE orders SET reject_reason = 'note' WHERE id = :id"), {"id": order_id}
        )
