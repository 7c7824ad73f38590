"""Cancelling orders and giving back what they reserved.

Locks are taken in the order :mod:`app.services.queries` documents: the
instruments of the orders, then the account, then its positions.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.bulk import bulk_update
from app.db.models import Account, Order, Position, utcnow
from app.domain.enums import OrderStatus, Side
from app.domain.lifecycle import transition
from app.services import queries
from app.services.errors import OrderNotOpen

ZERO = Decimal(0)


async def cancel_order(
    sessions: async_sessionmaker[AsyncSession], account_id: int, order_id: int
) -> Order:
    """Cancel one open order of ``account_id`` and release what it reserved."""
    async with sessions() as session, session.begin():
        instrument_id = await queries.order_instrument(session, account_id, order_id)
        await queries.lock_instruments(session, [instrument_id])
        order = await queries.reload_order(session, order_id)
        if not order.status.is_open:
            raise OrderNotOpen(f"order {order_id} is already {order.status.value}")
        await _release(session, [order])
        return order


async def cancel_all(sessions: async_sessionmaker[AsyncSession], account_id: int) -> list[Order]:
    """Cancel every open order of ``account_id``; returns the canceled orders."""
    async with sessions() as session, session.begin():
        instrument_ids = await queries.open_order_instruments(session, account_id)
        if not instrument_ids:
            return []
        await queries.lock_instruments(session, instrument_ids)
        orders = await queries.open_orders(session, account_id)
        await _release(session, orders)
        return orders


async def _release(session: AsyncSession, orders: Sequence[Order]) -> None:
    """Cancel ``orders`` (all of one account) and give back their reservations."""
    if not orders:
        return
    account = await queries.lock_account(session, orders[0].account_id)
    now = utcnow()
    sells: dict[int, Decimal] = {}
    for order in orders:
        order.status = transition(order.status, OrderStatus.CANCELED)
        if order.side is Side.BUY:
            account.reserved_cash -= order.reserved_cash
        else:
            sells[order.instrument_id] = sells.get(order.instrument_id, ZERO) + (
                order.qty - order.filled_qty
            )
        order.reserved_cash = ZERO
        order.updated_at = now
    await bulk_update(
        session,
        Order,
        [
            {"id": o.id, "status": o.status, "reserved_cash": o.reserved_cash, "updated_at": now}
            for o in orders
        ],
    )
    await session.execute(
        update(Account).where(Account.id == account.id).values(reserved_cash=account.reserved_cash)
    )
    if sells:
        positions = await queries.lock_holdings(session, account.id, sells)
        await bulk_update(
            session,
            Position,
            [
                {
                    "id": p.id,
                    "reserved_qty": p.reserved_qty - sells[p.instrument_id],
                    "updated_at": now,
                }
                for p in positions
            ],
        )
    # Rows were written explicitly: the unit of work must not write them again.
    session.expunge_all()
