"""Turn database rows into response bodies."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Literal

from app.api.schemas import AccountOut, FillOut, OrderOut, PositionOut, UserOut
from app.db.models import Account, Fill, Order, User
from app.domain.enums import Side
from app.runtime import Runtime
from app.services import queries
from app.services.accounts import AccountSummary, PositionView

PRICE_QUANTUM = Decimal("0.00000001")


async def symbol_of(runtime: Runtime, instrument_id: int) -> str:
    """The symbol of an instrument id (instruments change rarely: cached per process, read
    in a session of its own on a miss)."""
    symbols = runtime.symbols
    if instrument_id not in symbols:
        async with runtime.database.read_sessions() as session:
            symbols.update(await queries.symbols_by_id(session))
    return symbols.get(instrument_id, "?")


def order_out(order: Order, symbol: str) -> OrderOut:
    """Response body of an order."""
    average = (
        (order.filled_notional / order.filled_qty).quantize(PRICE_QUANTUM, ROUND_HALF_EVEN)
        if order.filled_qty
        else None
    )
    return OrderOut(
        id=order.id,
        client_order_id=order.client_order_id,
        symbol=symbol,
        side=order.side,
        type=order.order_type,
        time_in_force=order.time_in_force,
        qty=order.qty,
        limit_price=order.limit_price,
        filled_qty=order.filled_qty,
        remaining_qty=order.qty - order.filled_qty,
        avg_fill_price=average,
        status=order.status,
        reject_reason=order.reject_reason,
        created_at=order.created_at,
        updated_at=order.updated_at,
    )


async def orders_out(runtime: Runtime, rows: list[Order]) -> list[OrderOut]:
    """Response bodies of several orders."""
    return [order_out(row, await symbol_of(runtime, row.instrument_id)) for row in rows]


def fill_out(fill: Fill, symbol: str, account_id: int) -> FillOut:
    """A fill from the point of view of ``account_id``."""
    side = Side.BUY if fill.buyer_account_id == account_id else Side.SELL
    order_id = fill.buy_order_id if side is Side.BUY else fill.sell_order_id
    liquidity: Literal["maker", "taker"] = "taker" if fill.aggressor_side is side else "maker"
    return FillOut(
        id=fill.id,
        order_id=order_id,
        symbol=symbol,
        side=side,
        price=fill.price,
        qty=fill.qty,
        liquidity=liquidity,
        created_at=fill.created_at,
    )


def position_out(view: PositionView) -> PositionOut:
    """Response body of a position."""
    position = view.position
    return PositionOut(
        symbol=view.symbol,
        qty=position.qty,
        reserved_qty=position.reserved_qty,
        available_qty=position.qty - position.reserved_qty,
        avg_price=position.avg_price,
        realized_pnl=position.realized_pnl,
        last_price=view.last_price,
        unrealized_pnl=view.unrealized_pnl,
    )


def account_out(summary: AccountSummary) -> AccountOut:
    """Response body of an account's balances."""
    account = summary.account
    return AccountOut(
        id=account.id,
        currency=account.currency,
        cash=account.cash,
        reserved_cash=account.reserved_cash,
        buying_power=summary.buying_power,
        positions_value=summary.positions_value,
        equity=summary.equity,
    )


def user_out(user: User, account: Account) -> UserOut:
    """Response body of a user (with the id of their account)."""
    return UserOut(
        id=user.id,
        email=user.email,
        role=user.role,
        account_id=account.id,
        created_at=user.created_at,
    )
