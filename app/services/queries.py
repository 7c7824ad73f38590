"""Row locks and reads of the trading services.

Locking order (the same in every write path, so deadlocks cannot form): the
instrument rows (one symbol's book; ascending ids when several), then account
rows in ascending id, then position rows (ascending account id for one
instrument, ascending instrument id for one account). On SQLite every write
transaction starts with ``BEGIN IMMEDIATE`` instead, and these locks are no-ops.

Every write of an instrument's orders and positions holds that instrument's row,
so the order path (:mod:`app.services.order_statements`) reads them after taking it
without locking them again.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import TypeVar

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.bulk import insert_missing
from app.db.models import Account, Instrument, Order, Position, utcnow
from app.domain.enums import OrderStatus
from app.services.errors import NotFound

ZERO = Decimal(0)
T = TypeVar("T")


async def _one(session: AsyncSession, query: Select[T], missing: str) -> T:
    """The one row ``query`` finds; :class:`NotFound` with ``missing`` when there is none."""
    row = await session.scalar(query)
    if row is None:
        raise NotFound(missing)
    return row


async def lock_instrument(session: AsyncSession, symbol: str) -> Instrument:
    """Lock one symbol's instrument row (its book); unknown symbols are not found."""
    return await _one(
        session,
        select(Instrument).where(Instrument.symbol == symbol).with_for_update(),
        f"unknown symbol {symbol!r}",
    )


async def lock_account(session: AsyncSession, account_id: int) -> Account:
    """Lock one account row; a missing account is not found."""
    return await _one(
        session,
        select(Account).where(Account.id == account_id).with_for_update(),
        f"account {account_id} not found",
    )


async def lock_positions(
    session: AsyncSession, instrument_id: int, account_ids: Iterable[int]
) -> dict[int, Position]:
    """Make sure each account has a position row in the instrument, then lock them all.

    Returns the positions by account id, in ascending account id.
    """
    accounts = sorted(set(account_ids))
    now = utcnow()
    await insert_missing(
        session,
        Position,
        [
            {
                "account_id": account_id,
                "instrument_id": instrument_id,
                "qty": ZERO,
                "reserved_qty": ZERO,
                "avg_price": ZERO,
                "realized_pnl": ZERO,
                "updated_at": now,
            }
            for account_id in accounts
        ],
        unique=("account_id", "instrument_id"),
    )
    rows = await session.scalars(
        select(Position)
        .where(Position.instrument_id == instrument_id, Position.account_id.in_(accounts))
        .order_by(Position.account_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {position.account_id: position for position in rows}


async def find_by_client_id(
    session: AsyncSession, account_id: int, client_order_id: str
) -> Order | None:
    """The account's order with this ``client_order_id``, if there is one."""
    return await session.scalar(
        select(Order).where(
            Order.account_id == account_id, Order.client_order_id == client_order_id
        )
    )


async def get_order(session: AsyncSession, account_id: int, order_id: int) -> Order:
    """One order of ``account_id``; another account's order is reported as not found."""
    return await _one(
        session,
        select(Order).where(Order.id == order_id, Order.account_id == account_id),
        f"order {order_id} not found",
    )


async def list_orders(
    session: AsyncSession,
    account_id: int,
    *,
    status: OrderStatus | None,
    symbol: str | None,
    before_id: int | None,
    limit: int,
) -> list[Order]:
    """Newest first, ``limit`` + 1 rows so the caller can tell whether a next page exists."""
    query = select(Order).where(Order.account_id == account_id)
    if status is not None:
        query = query.where(Order.status == status)
    if symbol is not None:
        query = query.join(Instrument, Instrument.id == Order.instrument_id).where(
            Instrument.symbol == symbol
        )
    if before_id is not None:
        query = query.where(Order.id < before_id)
    rows = await session.scalars(query.order_by(Order.id.desc()).limit(limit + 1))
    return list(rows)


async def symbols_by_id(session: AsyncSession) -> dict[int, str]:
    """Map instrument ids to symbols (a handful of rows; cached by callers)."""
    rows = await session.execute(select(Instrument.id, Instrument.symbol))
    return {row.id: row.symbol for row in rows}
