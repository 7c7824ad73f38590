"""Writing one order's settlement back: at most one statement per table, and no row
that did not change.

The rows were read and locked by :mod:`app.services.order_statements`;
:func:`app.domain.settlement.settle` computed their new values. Here the fills and
their ledger entries are inserted, the makers and the instrument's last price
updated (when it traded), and the accounts and positions whose values changed
written, each table in one statement. A resting order with no fill writes one row
besides itself: the buyer's reserved cash, or the seller's reserved quantity.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.models import Fill, Order
from app.domain import risk
from app.domain.enums import CASH_ASSET, LedgerKind, Side
from app.domain.matching import Execution, MatchResult
from app.domain.settlement import Balance, Holding, OrderState, Settlement
from app.services import order_statements as sql
from app.services.order_statements import Party


async def write_settlement(
    connection: AsyncConnection,
    symbol: str,
    order: Order,
    result: MatchResult,
    settled: Settlement,
    parties: Mapping[int, Party],
) -> list[Fill]:
    """Write every change with one statement per table; returns the new fills.

    ``order`` is the taker, already inserted (it has its id); ``parties`` are the
    locked accounts and positions as they were read.
    """
    now = order.updated_at
    fills: list[Fill] = []
    if result.executions:
        fills = await _write_trades(connection, symbol, order, result, settled, now)
    balances = _changed_balances(settled.balances, parties)
    if balances:
        await connection.execute(sql.UPDATE_ACCOUNTS, balances)
    holdings = _changed_holdings(settled.holdings, parties, now)
    if holdings:
        await connection.execute(sql.UPDATE_POSITIONS, holdings)
    return fills


def _changed_balances(
    balances: Mapping[int, Balance], parties: Mapping[int, Party]
) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for account_id, balance in sorted(balances.items()):
        party = parties[account_id]
        if (balance.cash, balance.reserved_cash) != (party.cash, party.reserved_cash):
            rows.append(
                {"row_id": account_id, "cash": balance.cash, "reserved_cash": balance.reserved_cash}
            )
    return rows


def _changed_holdings(
    holdings: Mapping[int, Holding], parties: Mapping[int, Party], now: datetime
) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for account_id, holding in sorted(holdings.items()):
        party = parties[account_id]
        before = Holding(party.qty, party.reserved_qty, party.avg_price, party.realized_pnl)
        if holding != before:
            rows.append(
                {
                    "row_id": party.position_id,
                    "qty": holding.qty,
                    "reserved_qty": holding.reserved_qty,
                    "avg_price": holding.avg_price,
                    "realized_pnl": holding.realized_pnl,
                    "updated_at": now,
                }
            )
    return rows


async def _write_trades(
    connection: AsyncConnection,
    symbol: str,
    order: Order,
    result: MatchResult,
    settled: Settlement,
    now: datetime,
) -> list[Fill]:
    """Insert the fills and their ledger entries; update the makers and the last price."""
    rows = [_fill_row(order, execution, now) for execution in result.executions]
    inserted = await connection.execute(sql.INSERT_FILLS, rows)
    # A maker trades at most once per incoming order: its order id names the fill.
    maker_key = "sell_order_id" if order.side is Side.BUY else "buy_order_id"
    ids = {getattr(row, maker_key): row.id for row in inserted}
    fills = [Fill(id=ids[row[maker_key]], **row) for row in rows]
    await connection.execute(sql.INSERT_LEDGER, _ledger_rows(symbol, fills, now))
    await connection.execute(
        sql.UPDATE_MAKERS,
        [
            _order_row(e.maker_order_id, settled.makers[e.maker_order_id], now)
            for e in result.executions
        ],
    )
    await connection.execute(
        sql.SET_LAST_PRICE,
        {"instrument_id": order.instrument_id, "last_price": result.executions[-1].price},
    )
    return fills


def _fill_row(order: Order, execution: Execution, now: datetime) -> dict[str, object]:
    taker = (order.id, order.account_id)
    maker = (execution.maker_order_id, execution.maker_account_id)
    (buy_id, buyer), (sell_id, seller) = (
        (taker, maker) if order.side is Side.BUY else (maker, taker)
    )
    return {
        "instrument_id": order.instrument_id,
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
        "row_id": order_id,
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
