"""The invariant checker: recompute every balance from the records, report each violation.

The tests run it after random trading, concurrent bursts and restarts: an empty
list means the books balance.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from sqlalchemy import func, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Account, Fill, Instrument, LedgerEntry, Order, Position
from app.domain import risk
from app.domain.enums import CASH_ASSET, LedgerKind, OrderStatus, Side

ZERO = Decimal(0)


async def _ledger(session: AsyncSession) -> dict[tuple[int, str], Decimal]:
    rows = await session.execute(
        select(LedgerEntry.account_id, LedgerEntry.asset, func.sum(LedgerEntry.amount)).group_by(
            LedgerEntry.account_id, LedgerEntry.asset
        )
    )
    return {(row[0], row[1]): row[2] for row in rows}


async def _filled_by_order(session: AsyncSession) -> dict[int, Decimal]:
    sides = union_all(
        select(Fill.buy_order_id.label("order_id"), Fill.qty.label("qty")),
        select(Fill.sell_order_id.label("order_id"), Fill.qty.label("qty")),
    ).subquery()
    rows = await session.execute(
        select(sides.c.order_id, func.sum(sides.c.qty)).group_by(sides.c.order_id)
    )
    return {row[0]: row[1] for row in rows}


async def check_invariants(session: AsyncSession) -> list[str]:
    """Every violated invariant, one line each; empty when the books balance."""
    symbols = {i.id: i.symbol for i in await session.scalars(select(Instrument))}
    ledger = await _ledger(session)
    filled = await _filled_by_order(session)
    orders = list(await session.scalars(select(Order)))
    problems: list[str] = []
    problems += _check_orders(orders, filled)
    problems += await _check_accounts(session, ledger, orders)
    problems += await _check_positions(session, ledger, orders, symbols)
    problems += _check_books(orders, symbols)
    problems += await _check_conservation(session, symbols)
    return problems


def _check_orders(orders: list[Order], filled: dict[int, Decimal]) -> list[str]:
    problems = []
    for order in orders:
        tag = f"order {order.id}"
        traded = filled.get(order.id, ZERO)
        if traded != order.filled_qty:
            problems.append(f"{tag}: filled_qty {order.filled_qty} but fills sum to {traded}")
        if not ZERO <= order.filled_qty <= order.qty:
            problems.append(f"{tag}: filled_qty {order.filled_qty} outside 0..{order.qty}")
        expected = _expected_status_ok(order)
        if expected:
            problems.append(f"{tag}: {expected}")
        if order.status.is_terminal and order.reserved_cash != ZERO:
            problems.append(f"{tag}: {order.status} but still reserves {order.reserved_cash}")
        if order.status.is_open and order.side is Side.BUY and order.limit_price is not None:
            needed = risk.notional(order.limit_price, order.qty - order.filled_qty)
            if order.reserved_cash != needed:
                problems.append(f"{tag}: reserves {order.reserved_cash}, remaining needs {needed}")
    return problems


def _expected_status_ok(order: Order) -> str | None:
    full = order.filled_qty == order.qty
    if order.status is OrderStatus.FILLED and not full:
        return "filled but not fully"
    if order.status is not OrderStatus.FILLED and full:
        return f"fully filled but {order.status}"
    if order.status is OrderStatus.NEW and order.filled_qty != ZERO:
        return "new but has fills"
    if order.status is OrderStatus.PARTIALLY_FILLED and order.filled_qty == ZERO:
        return "partially_filled without fills"
    if order.status is OrderStatus.REJECTED and order.filled_qty != ZERO:
        return "rejected but has fills"
    return None


async def _check_accounts(
    session: AsyncSession, ledger: dict[tuple[int, str], Decimal], orders: list[Order]
) -> list[str]:
    reserved: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for order in orders:
        if order.status.is_open and order.side is Side.BUY:
            reserved[order.account_id] += order.reserved_cash
    problems = []
    for account in await session.scalars(select(Account)):
        tag = f"account {account.id}"
        from_ledger = ledger.get((account.id, CASH_ASSET), ZERO)
        if account.cash != from_ledger:
            problems.append(f"{tag}: cash {account.cash} but ledger sums to {from_ledger}")
        if account.reserved_cash != reserved[account.id]:
            problems.append(
                f"{tag}: reserved {account.reserved_cash} but open buys reserve "
                f"{reserved[account.id]}"
            )
        if account.cash < ZERO or account.reserved_cash < ZERO:
            problems.append(f"{tag}: negative balance")
        if account.reserved_cash > account.cash:
            problems.append(f"{tag}: reserves {account.reserved_cash} of {account.cash}")
    return problems


async def _check_positions(
    session: AsyncSession,
    ledger: dict[tuple[int, str], Decimal],
    orders: list[Order],
    symbols: dict[int, str],
) -> list[str]:
    reserved: dict[tuple[int, int], Decimal] = defaultdict(lambda: ZERO)
    for order in orders:
        if order.status.is_open and order.side is Side.SELL:
            reserved[(order.account_id, order.instrument_id)] += order.qty - order.filled_qty
    seen: set[tuple[int, str]] = set()
    problems = []
    for position in await session.scalars(select(Position)):
        symbol = symbols[position.instrument_id]
        seen.add((position.account_id, symbol))
        tag = f"position {position.account_id}/{symbol}"
        from_ledger = ledger.get((position.account_id, symbol), ZERO)
        if position.qty != from_ledger:
            problems.append(f"{tag}: qty {position.qty} but ledger sums to {from_ledger}")
        expected = reserved[(position.account_id, position.instrument_id)]
        if position.reserved_qty != expected:
            problems.append(
                f"{tag}: reserved {position.reserved_qty} but open sells hold {expected}"
            )
        if not ZERO <= position.reserved_qty <= position.qty:
            problems.append(f"{tag}: reserved {position.reserved_qty} outside 0..{position.qty}")
    for (account_id, asset), amount in ledger.items():
        if asset != CASH_ASSET and (account_id, asset) not in seen and amount != ZERO:
            problems.append(f"position {account_id}/{asset}: ledger holds {amount}, no position")
    return problems


def _check_books(orders: list[Order], symbols: dict[int, str]) -> list[str]:
    best_bid: dict[int, Decimal] = {}
    best_ask: dict[int, Decimal] = {}
    for order in orders:
        if not order.status.is_open or order.limit_price is None:
            continue
        book = best_bid if order.side is Side.BUY else best_ask
        current = book.get(order.instrument_id)
        better = max if order.side is Side.BUY else min
        book[order.instrument_id] = (
            order.limit_price if current is None else better(current, order.limit_price)
        )
    return [
        f"book {symbols[instrument]}: crossed, bid {bid} >= ask {best_ask[instrument]}"
        for instrument, bid in best_bid.items()
        if instrument in best_ask and bid >= best_ask[instrument]
    ]


async def _check_conservation(session: AsyncSession, symbols: dict[int, str]) -> list[str]:
    """Trades move cash and instruments between accounts; they never create or destroy them."""
    problems = []
    by_kind = await session.execute(
        select(LedgerEntry.asset, LedgerEntry.kind, func.sum(LedgerEntry.amount)).group_by(
            LedgerEntry.asset, LedgerEntry.kind
        )
    )
    for asset, kind, total in by_kind:
        if kind == LedgerKind.TRADE and total != ZERO:
            problems.append(f"{asset}: trades net to {total}, not zero")
    total_cash = await session.scalar(select(func.coalesce(func.sum(Account.cash), ZERO)))
    external_cash = await session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.amount), ZERO)).where(
            LedgerEntry.asset == CASH_ASSET, LedgerEntry.kind != LedgerKind.TRADE
        )
    )
    if total_cash != external_cash:
        problems.append(f"cash: accounts hold {total_cash}, deposits net {external_cash}")
    for instrument_id, symbol in symbols.items():
        held = await session.scalar(
            select(func.coalesce(func.sum(Position.qty), ZERO)).where(
                Position.instrument_id == instrument_id
            )
        )
        transferred = await session.scalar(
            select(func.coalesce(func.sum(LedgerEntry.amount), ZERO)).where(
                LedgerEntry.asset == symbol, LedgerEntry.kind != LedgerKind.TRADE
            )
        )
        if held != transferred:
            problems.append(f"{symbol}: positions hold {held}, transfers net {transferred}")
    return problems
