"""Writing one order's settlement back: one statement per table, whatever it traded.

The rows were read and locked by :mod:`app.services.queries` and expunged from
the session; :func:`app.domain.settlement.settle` computed their new values.
Here the fills and their ledger entries are inserted and the makers, accounts,
positions and the instrument's last price updated, each table in one statement.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.bulk import bulk_update
from app.db.models import Account, Fill, Instrument, LedgerEntry, Order, Position, utcnow
from app.domain import risk
from app.domain.enums import CASH_ASSET, LedgerKind, Side
from app.domain.matching import Execution, MatchResult
from app.domain.settlement import OrderState, Settlement


async def write_settlement(
    session: AsyncSession,
    instrument: Instrument,
    order: Order,
    result: MatchResult,
    settled: Settlement,
    positions: Mapping[int, Position],
) -> list[Fill]:
    """Write every change with one statement per table; returns the new fills.

    ``order`` is the taker, already inserted (it has its id); ``positions`` are
    the locked position rows by account id. The session is emptied afterwards
    so the unit of work does not write the rows again.
    """
    now = utcnow()
    fills: list[Fill] = []
    if result.executions:
        fills = await _write_trades(session, instrument, order, result, settled, now)
    await bulk_update(
        session,
        Account,
        [
            {"id": account_id, "cash": balance.cash, "reserved_cash": balance.reserved_cash}
            for account_id, balance in sorted(settled.balances.items())
        ],
    )
    await bulk_update(
        session,
        Position,
        [
            {
                "id": positions[account_id].id,
                "qty": holding.qty,
                "reserved_qty": holding.reserved_qty,
                "avg_price": holding.avg_price,
                "realized_pnl": holding.realized_pnl,
                "updated_at": now,
            }
            for account_id, holding in sorted(settled.holdings.items())
        ],
    )
    session.expunge_all()
    return fills


async def _write_trades(
    session: AsyncSession,
    instrument: Instrument,
    order: Order,
    result: MatchResult,
    settled: Settlement,
    now: datetime,
) -> list[Fill]:
    """Insert the fills and their ledger entries; update the makers and the last price."""
    fill_rows = [_fill_row(instrument.id, order, execution, now) for execution in result.executions]
    fills = list(await session.scalars(insert(Fill).returning(Fill), fill_rows))
    await session.execute(insert(LedgerEntry), _ledger_rows(instrument.symbol, fills, now))
    await bulk_update(
        session,
        Order,
        [
            _order_row(e.maker_order_id, settled.makers[e.maker_order_id], now)
            for e in result.executions
        ],
    )
    await session.execute(
        update(Instrument)
        .where(Instrument.id == instrument.id)
        .values(last_price=result.executions[-1].price)
    )
    return fills


def _fill_row(
    instrument_id: int, order: Order, execution: Execution, now: datetime
) -> dict[str, object]:
    taker = (order.id, order.account_id)
    maker = (execution.maker_order_id, execution.maker_account_id)
    (buy_id, buyer), (sell_id, seller) = (
        (taker, maker) if order.side is Side.BUY else (maker, taker)
    )
    return {
        "instrument_id": instrument_id,
        "price": execution.price,
        "qty": execution.qty,
        "buy_order_id": buy_id,
        "sell_order_id": sell_id,
        "buyer_account_id": buyer,
        "seller_account_id": seller,
        "aggressor_side": order.side,
        "created_at": now,
    }


def _order_row(order_id: int, state: OrderState, now: datetime) -> dict[str, object]:
    return {
        "id": order_id,
        "filled_qty": state.filled_qty,
        "filled_notional": state.filled_notional,
        "reserved_cash": state.reserved_cash,
        "status": state.status,
        "updated_at": now,
    }


def _ledger_rows(symbol: str, fills: Sequence[Fill], now: datetime) -> list[dict[str, object]]:
    """Four entries a fill: cash and the instrument, out of one account and into the other."""
    rows: list[dict[str, object]] = []
    for fill in fills:
        amount = risk.notional(fill.price, fill.qty)
        for account_id, order_id, asset, value in (
            (fill.buyer_account_id, fill.buy_order_id, CASH_ASSET, -amount),
            (fill.buyer_account_id, fill.buy_order_id, symbol, fill.qty),
            (fill.seller_account_id, fill.sell_order_id, CASH_ASSET, amount),
            (fill.seller_account_id, fill.sell_order_id, symbol, -fill.qty),
        ):
            rows.append(
                {
                    "account_id": account_id,
                    "kind": LedgerKind.TRADE,
                    "asset": asset,
                    "amount": value,
                    "order_id": order_id,
                    "fill_id": fill.id,
                    "note": "",
                    "created_at": now,
                }
            )
    return rows
