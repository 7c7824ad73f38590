"""Cancelling orders and giving back what they reserved.

Locks are taken in the order :mod:`app.services.queries` documents: the
instruments of the orders, then the account, then its positions. Like placing, one
order is cancelled by either of two implementations that write the same rows:

- **On PostgreSQL, in the database**: one statement, ``SELECT * FROM cancel_order(...)``
  (migration 0004), its own transaction.
- **In Python** (the reference, and the only path on SQLite): SQLAlchemy Core with
  statements built once (:mod:`app.services.order_statements`), at most
  :data:`MAX_CANCEL_STATEMENTS` -- lock its instrument (found through the order), read
  the order as committed, cancel it, give back the cash or the quantity it reserved.

Cancelling all of an account's orders is the Python path on every backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from app.db.models import Order, utcnow
from app.domain.enums import OrderStatus, Side
from app.domain.lifecycle import transition
from app.services import order_statements as sql
from app.services.accounts import Owner, account_of
from app.services.errors import NotFound, OrderNotOpen

ZERO = Decimal(0)
MAX_CANCEL_STATEMENTS = 4
"""Statements of cancelling one order: lock its book, read it, cancel it, release."""


async def cancel_order(
    sessions: async_sessionmaker[AsyncSession],
    account_id: int,
    order_id: int,
    *,
    in_database: bool | None = None,
) -> Order:
    """Cancel one open order of ``account_id`` and release what it reserved.

    :class:`NotFound` when the account has no such order, :class:`OrderNotOpen` when it
    is no longer open. ``in_database`` picks the implementation as for placing: by
    default the database function on PostgreSQL and Python elsewhere.
    """
    return await _cancel_for(sessions, Owner(account_id=account_id), order_id, in_database)


async def cancel_order_for_user(
    sessions: async_sessionmaker[AsyncSession],
    user_id: int,
    order_id: int,
    *,
    in_database: bool | None = None,
) -> Order:
    """Cancel one open order of the account of ``user_id`` (a bearer token's subject),
    checking in the same transaction that the user is active; otherwise as
    :func:`cancel_order`."""
    return await _cancel_for(sessions, Owner(user_id=user_id), order_id, in_database)


async def _cancel_for(
    sessions: async_sessionmaker[AsyncSession],
    owner: Owner,
    order_id: int,
    in_database: bool | None,
) -> Order:
    engine = sql.bound_engine(sessions)
    if sql.in_database(engine, in_database):
        found = await sql.call_in_database(
            engine, sql.CANCEL_IN_DATABASE, owner.user_id, owner.account_id, order_id, utcnow()
        )
        if found is None:
            raise NotFound(f"order {order_id} not found")
        order = sql.order_from_result(found)
        if not found["o_canceled"]:
            raise OrderNotOpen(f"order {order_id} is already {order.status.value}")
        return order
    async with sessions() as session, session.begin():
        account_id = await account_of(session, owner)
        connection = await session.connection()
        ids = {"order_id": order_id, "account_id": account_id}
        if (await connection.execute(sql.LOCK_ORDER_BOOK, ids)).first() is None:
            raise NotFound(f"order {order_id} not found")
        row = (await connection.execute(sql.READ_ORDER, ids)).one()
        order = Order(**row._mapping)
        if not order.status.is_open:
            raise OrderNotOpen(f"order {order_id} is already {order.status.value}")
        await _release(connection, account_id, [order])
        return order


async def cancel_all(sessions: async_sessionmaker[AsyncSession], account_id: int) -> list[Order]:
    """Cancel every open order of ``account_id``; returns the canceled orders."""
    async with sessions() as session, session.begin():
        connection = await session.connection()
        who = {"account_id": account_id}
        books = (await connection.execute(sql.OPEN_ORDER_BOOKS, who)).scalars().all()
        if not books:
            return []
        await connection.execute(sql.LOCK_BOOKS, {"instrument_ids": sorted(books)})
        orders = [Order(**row._mapping) for row in await connection.execute(sql.OPEN_ORDERS, who)]
        await _release(connection, account_id, orders)
        return orders


async def _release(connection: AsyncConnection, account_id: int, orders: Sequence[Order]) -> None:
    """Cancel ``orders`` (all of ``account_id``) and give back their reservations; rows
    that would not change are not written."""
    if not orders:
        return
    now = utcnow()
    cash = ZERO
    quantities: dict[int, Decimal] = {}
    for order in orders:
        order.status = transition(order.status, OrderStatus.CANCELED)
        if order.side is Side.BUY:
            cash += order.reserved_cash
        else:
            held = quantities.get(order.instrument_id, ZERO)
            quantities[order.instrument_id] = held + order.qty - order.filled_qty
        order.reserved_cash = ZERO
        order.updated_at = now
    await connection.execute(
        sql.CANCEL_ORDERS,
        [{"row_id": o.id, "status": o.status, "reserved_cash": ZERO, "updated_at": now}
         for o in orders],
    )  # fmt: skip
    if cash:
        await connection.execute(sql.RELEASE_CASH, {"owner": account_id, "amount": cash})
    released = [
        {"owner": account_id, "book": instrument, "released": qty, "released_at": now}
        for instrument, qty in sorted(quantities.items())
        if qty
    ]  # fmt: skip
    if released:
        await connection.execute(sql.RELEASE_QTY, released)
