"""Placing, matching and cancelling orders against the database.

Locking order (the same in every write path, so deadlocks cannot form):
the instrument row (one symbol's book; ascending ids when several), then
account rows in ascending id, then position rows in ascending account id. On
SQLite every write transaction starts with ``BEGIN IMMEDIATE`` instead.

Placing an order runs at most :data:`MAX_PLACE_STATEMENTS` SQL statements,
however many resting orders it trades against: rows are read with one query
per table and written with one executemany per table.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Table, bindparam, func, insert, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.models import Account, Base, Fill, Instrument, LedgerEntry, Order, Position, utcnow
from app.db.types import ExactDecimal
from app.domain import risk
from app.domain.enums import (
    CASH_ASSET,
    OPEN_STATUSES,
    LedgerKind,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from app.domain.lifecycle import transition
from app.domain.matching import IncomingOrder, MatchResult, RestingOrder, match
from app.services.errors import IdempotencyConflict, NotFound, OrderNotOpen

ZERO = Decimal(0)
MAX_PLACE_STATEMENTS = 13
"""Upper bound of SQL statements for one order, whatever it trades against."""
OPEN = tuple(status.value for status in OPEN_STATUSES)


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """What a client asks for; ``fingerprint`` identifies the payload for idempotency."""

    symbol: str
    side: Side
    order_type: OrderType
    qty: Decimal
    limit_price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    client_order_id: str | None = None

    def fingerprint(self) -> str:
        """A stable hash of every field except ``client_order_id``."""
        payload = {
            "symbol": self.symbol,
            "side": self.side.value,
            "type": self.order_type.value,
            "qty": str(self.qty.normalize()),
            "limit_price": None if self.limit_price is None else str(self.limit_price.normalize()),
            "tif": self.time_in_force.value,
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


@dataclass(slots=True)
class PlaceResult:
    """The order as stored, whether it was a replay, and the fills it produced."""

    order: Order
    replayed: bool = False
    fills: list[Fill] = field(default_factory=list)


async def _lock_instrument(session: AsyncSession, symbol: str) -> Instrument:
    instrument = await session.scalar(
        select(Instrument).where(Instrument.symbol == symbol).with_for_update()
    )
    if instrument is None:
        raise NotFound(f"unknown symbol {symbol!r}")
    return instrument


async def _find_by_client_id(
    session: AsyncSession, account_id: int, client_order_id: str
) -> Order | None:
    return await session.scalar(
        select(Order).where(
            Order.account_id == account_id, Order.client_order_id == client_order_id
        )
    )


def _replay(existing: Order, request: OrderRequest) -> PlaceResult:
    if existing.request_hash != request.fingerprint():
        raise IdempotencyConflict(
            f"client_order_id {request.client_order_id!r} was used for a different order"
        )
    return PlaceResult(existing, replayed=True)


async def _crossing_orders(
    session: AsyncSession, instrument_id: int, side: Side, bound: Decimal, qty: Decimal
) -> list[Order]:
    """The resting orders an incoming order would trade with, best first.

    Only as many as can fill ``qty`` are read: each row's cumulative quantity
    ahead of it in priority must be below ``qty``.
    """
    maker_side = side.opposite
    price_ok = Order.limit_price <= bound if side is Side.BUY else Order.limit_price >= bound
    priority = (
        (Order.limit_price.asc(), Order.id.asc())
        if maker_side is Side.SELL
        else (Order.limit_price.desc(), Order.id.asc())
    )
    ahead = func.sum(Order.qty - Order.filled_qty).over(order_by=priority, rows=(None, -1))
    ranked = (
        select(Order.id.label("id"), ahead.label("ahead"))
        .where(
            Order.instrument_id == instrument_id,
            Order.side == maker_side,
            Order.status.in_(OPEN),
            price_ok,
        )
        .subquery()
    )
    zero = literal(ZERO, ExactDecimal())
    rows = await session.scalars(
        select(Order)
        .join(ranked, ranked.c.id == Order.id)
        .where(func.coalesce(ranked.c.ahead, zero) < literal(qty, ExactDecimal()))
        .order_by(*priority)
    )
    return list(rows)


async def _lock_accounts(session: AsyncSession, account_ids: set[int]) -> dict[int, Account]:
    rows = await session.scalars(
        select(Account)
        .where(Account.id.in_(sorted(account_ids)))
        .order_by(Account.id)
        .with_for_update()
    )
    return {account.id: account for account in rows}


def _insert_ignore(session: AsyncSession) -> type[postgresql.Insert] | type[sqlite.Insert]:
    return sqlite.Insert if session.get_bind().dialect.name == "sqlite" else postgresql.Insert


async def _lock_positions(
    session: AsyncSession, instrument_id: int, account_ids: set[int]
) -> dict[int, Position]:
    """Make sure a position row exists for each account, then lock them all."""
    insert_class = _insert_ignore(session)
    await session.execute(
        insert_class(Position)
        .values(
            [
                {
                    "account_id": account_id,
                    "instrument_id": instrument_id,
                    "qty": ZERO,
                    "reserved_qty": ZERO,
                    "avg_price": ZERO,
                    "realized_pnl": ZERO,
                    "updated_at": utcnow(),
                }
                for account_id in sorted(account_ids)
            ]
        )
        .on_conflict_do_nothing(index_elements=["account_id", "instrument_id"])
    )
    rows = await session.scalars(
        select(Position)
        .where(
            Position.instrument_id == instrument_id, Position.account_id.in_(sorted(account_ids))
        )
        .order_by(Position.account_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {position.account_id: position for position in rows}


def _rules(instrument: Instrument) -> risk.InstrumentRules:
    return risk.InstrumentRules(
        instrument.symbol, instrument.tick_size, instrument.lot_size, instrument.tradable
    )


def _reference_price(instrument: Instrument) -> Decimal | None:
    return instrument.last_price or instrument.reference_price


def _price_bound(instrument: Instrument, request: OrderRequest, collar: Decimal) -> Decimal | None:
    if request.order_type is OrderType.LIMIT:
        return request.limit_price
    reference = _reference_price(instrument)
    if reference is None:
        return None
    return risk.collar_price(request.side, reference, collar, instrument.tick_size)


def _new_order(account_id: int, instrument: Instrument, request: OrderRequest) -> Order:
    now = utcnow()
    return Order(
        account_id=account_id,
        instrument_id=instrument.id,
        client_order_id=request.client_order_id,
        request_hash=request.fingerprint(),
        side=request.side,
        order_type=request.order_type,
        time_in_force=request.time_in_force,
        qty=request.qty,
        limit_price=request.limit_price,
        filled_qty=ZERO,
        filled_notional=ZERO,
        reserved_cash=ZERO,
        status=OrderStatus.NEW,
        reject_reason=None,
        created_at=now,
        updated_at=now,
    )


async def place_order(
    sessions: async_sessionmaker[AsyncSession],
    account_id: int,
    request: OrderRequest,
    *,
    collar: Decimal,
) -> PlaceResult:
    """Place an order: idempotency, risk, matching and settlement in one transaction.

    A replay of the same ``client_order_id`` and payload returns the stored order;
    another payload raises :class:`IdempotencyConflict`. Orders failing a risk
    check are stored with status ``rejected`` and the reason.
    """
    try:
        async with sessions() as session, session.begin():
            return await _place(session, account_id, request, collar)
    except IntegrityError:
        # Two requests with one client_order_id raced past the check: the loser
        # sees the winner's row now, or the error was something else.
        if request.client_order_id is None:
            raise
        async with sessions() as session:
            existing = await _find_by_client_id(session, account_id, request.client_order_id)
        if existing is None:
            raise
        return _replay(existing, request)


async def _place(
    session: AsyncSession, account_id: int, request: OrderRequest, collar: Decimal
) -> PlaceResult:
    instrument = await _lock_instrument(session, request.symbol)
    if request.client_order_id is not None:
        existing = await _find_by_client_id(session, account_id, request.client_order_id)
        if existing is not None:
            return _replay(existing, request)

    order = _new_order(account_id, instrument, request)
    bound = _price_bound(instrument, request, collar)
    makers = (
        await _crossing_orders(session, instrument.id, request.side, bound, request.qty)
        if bound is not None
        else []
    )
    parties = {account_id} | {maker.account_id for maker in makers}
    accounts = await _lock_accounts(session, parties)
    positions = await _lock_positions(session, instrument.id, parties)
    # From here rows change in memory and are written explicitly (one statement
    # per table), so the unit of work must not track them.
    for row in (*makers, *accounts.values(), *positions.values()):
        session.expunge(row)
    taker_account = accounts[account_id]
    taker_position = positions[account_id]
    try:
        approval = risk.approve(
            side=request.side,
            order_type=request.order_type,
            qty=request.qty,
            limit_price=request.limit_price,
            rules=_rules(instrument),
            buying_power=taker_account.cash - taker_account.reserved_cash,
            available_qty=taker_position.qty - taker_position.reserved_qty,
            reference_price=_reference_price(instrument),
            collar=collar,
        )
    except risk.Rejected as rejection:
        order.status = OrderStatus.REJECTED
        order.reject_reason = f"{rejection.reason.value}: {rejection.detail}"[:200]
        session.add(order)
        await session.flush()
        return PlaceResult(order)

    result = match(
        IncomingOrder(
            order_id=0,
            account_id=account_id,
            side=request.side,
            order_type=request.order_type,
            time_in_force=request.time_in_force,
            qty=request.qty,
            price_bound=approval.price_bound,
        ),
        [_resting(maker) for maker in makers],
    )
    settlement = _Settlement(instrument, order, approval, result, makers, accounts, positions)
    settlement.apply_to_taker()
    session.add(order)
    await session.flush()  # assigns order.id
    fills = await settlement.write(session)
    return PlaceResult(order, fills=fills)


def _resting(order: Order) -> RestingOrder:
    assert order.limit_price is not None  # resting orders are always limit orders
    return RestingOrder(
        order.id, order.account_id, order.side, order.limit_price, order.qty - order.filled_qty
    )


@dataclass
class _Settlement:
    """Applies a match result to the in-memory rows, then writes them in bulk."""

    instrument: Instrument
    order: Order
    approval: risk.Approval
    result: MatchResult
    makers: Sequence[Order]
    accounts: dict[int, Account]
    positions: dict[int, Position]

    def apply_to_taker(self) -> None:
        """Set the taker's final state and its reservation."""
        order, result = self.order, self.result
        order.filled_qty = result.filled
        order.filled_notional = sum(
            (risk.notional(e.price, e.qty) for e in result.executions), ZERO
        )
        order.status = transition(OrderStatus.NEW, result.status)
        account = self.accounts[order.account_id]
        position = self.positions[order.account_id]
        if order.side is Side.BUY:
            order.reserved_cash = (
                risk.notional(self.approval.price_bound, result.remaining) if result.rests else ZERO
            )
            account.reserved_cash += order.reserved_cash
        elif result.rests:
            position.reserved_qty += result.remaining

    async def write(self, session: AsyncSession) -> list[Fill]:
        """Write every change with one statement per table; returns the new fills.

        Rows are changed in memory first and written explicitly here; the
        session is then emptied so the unit of work does not write them again.
        """
        now = utcnow()
        fills: list[Fill] = []
        if self.result.executions:
            fills = await self._write_trades(session, now)
        await _bulk_update(
            session,
            Account,
            [
                {"id": a.id, "cash": a.cash, "reserved_cash": a.reserved_cash}
                for a in sorted(self.accounts.values(), key=lambda a: a.id)
            ],
        )
        await _bulk_update(
            session,
            Position,
            [
                {
                    "id": p.id,
                    "qty": p.qty,
                    "reserved_qty": p.reserved_qty,
                    "avg_price": p.avg_price,
                    "realized_pnl": p.realized_pnl,
                    "updated_at": now,
                }
                for p in sorted(self.positions.values(), key=lambda p: p.account_id)
            ],
        )
        session.expunge_all()
        return fills

    async def _write_trades(self, session: AsyncSession, now: datetime) -> list[Fill]:
        makers_by_id = {maker.id: maker for maker in self.makers}
        fill_rows = []
        for execution in self.result.executions:
            maker = makers_by_id[execution.maker_order_id]
            self._settle(maker, execution.price, execution.qty)
            buy, sell = (self.order, maker) if self.order.side is Side.BUY else (maker, self.order)
            fill_rows.append(
                {
                    "instrument_id": self.instrument.id,
                    "price": execution.price,
                    "qty": execution.qty,
                    "buy_order_id": buy.id,
                    "sell_order_id": sell.id,
                    "buyer_account_id": buy.account_id,
                    "seller_account_id": sell.account_id,
                    "aggressor_side": self.order.side,
                    "created_at": now,
                }
            )
        fills = list(await session.scalars(insert(Fill).returning(Fill), fill_rows))
        await session.execute(insert(LedgerEntry), self._ledger_rows(fills, now))
        traded = [makers_by_id[e.maker_order_id] for e in self.result.executions]
        await _bulk_update(session, Order, [_order_row(maker, now) for maker in traded])
        last_price = self.result.executions[-1].price
        await session.execute(
            update(Instrument)
            .where(Instrument.id == self.instrument.id)
            .values(last_price=last_price)
        )
        self.instrument.last_price = last_price
        return fills

    def _settle(self, maker: Order, price: Decimal, qty: Decimal) -> None:
        buy, sell = (self.order, maker) if self.order.side is Side.BUY else (maker, self.order)
        amount = risk.notional(price, qty)
        buyer = self.accounts[buy.account_id]
        seller = self.accounts[sell.account_id]
        buyer.cash -= amount
        seller.cash += amount
        buyer_position = self.positions[buy.account_id]
        seller_position = self.positions[sell.account_id]
        buyer_position.avg_price = risk.average_price(
            buyer_position.qty, buyer_position.avg_price, qty, price
        )
        buyer_position.qty += qty
        seller_position.realized_pnl += risk.realized(seller_position.avg_price, qty, price)
        seller_position.qty -= qty
        if seller_position.qty == ZERO:
            seller_position.avg_price = ZERO

        # The maker's own state: fills, status and what it still reserves.
        maker.filled_qty += qty
        maker.filled_notional += amount
        remaining = maker.qty - maker.filled_qty
        maker.status = transition(
            maker.status,
            OrderStatus.FILLED if remaining == ZERO else OrderStatus.PARTIALLY_FILLED,
        )
        if maker.side is Side.BUY:
            assert maker.limit_price is not None
            new_reserved = risk.notional(maker.limit_price, remaining)
            buyer.reserved_cash -= maker.reserved_cash - new_reserved
            maker.reserved_cash = new_reserved
        else:
            seller_position.reserved_qty -= qty

    def _ledger_rows(self, fills: Sequence[Fill], now: datetime) -> list[dict[str, object]]:
        symbol = self.instrument.symbol
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


async def _bulk_update(
    session: AsyncSession, model: type[Base], rows: Sequence[dict[str, object]]
) -> None:
    """UPDATE ... WHERE id = ? as one executemany, bypassing the ORM identity map."""
    if not rows:
        return
    table = model.__table__
    assert isinstance(table, Table)
    columns = [name for name in rows[0] if name != "id"]
    statement = (
        table.update()
        .where(table.c.id == bindparam("row_id"))
        .values({name: bindparam(name) for name in columns})
    )
    await session.execute(
        statement, [{"row_id": row["id"], **{name: row[name] for name in columns}} for row in rows]
    )


def _order_row(order: Order, now: datetime) -> dict[str, object]:
    return {
        "id": order.id,
        "filled_qty": order.filled_qty,
        "filled_notional": order.filled_notional,
        "reserved_cash": order.reserved_cash,
        "status": order.status,
        "updated_at": now,
    }


async def cancel_order(
    sessions: async_sessionmaker[AsyncSession], account_id: int, order_id: int
) -> Order:
    """Cancel one open order of ``account_id`` and release what it reserved."""
    async with sessions() as session, session.begin():
        instrument_id = await session.scalar(
            select(Order.instrument_id).where(Order.id == order_id, Order.account_id == account_id)
        )
        if instrument_id is None:
            raise NotFound(f"order {order_id} not found")
        await session.execute(
            select(Instrument.id).where(Instrument.id == instrument_id).with_for_update()
        )
        order = await session.scalar(
            select(Order).where(Order.id == order_id).execution_options(populate_existing=True)
        )
        assert order is not None
        if not order.status.is_open:
            raise OrderNotOpen(f"order {order_id} is already {order.status.value}")
        await _release(session, [order])
        return order


async def cancel_all(sessions: async_sessionmaker[AsyncSession], account_id: int) -> list[Order]:
    """Cancel every open order of ``account_id``; returns the canceled orders."""
    async with sessions() as session, session.begin():
        instrument_ids = sorted(
            set(
                await session.scalars(
                    select(Order.instrument_id).where(
                        Order.account_id == account_id, Order.status.in_(OPEN)
                    )
                )
            )
        )
        if not instrument_ids:
            return []
        await session.execute(
            select(Instrument.id)
            .where(Instrument.id.in_(instrument_ids))
            .order_by(Instrument.id)
            .with_for_update()
        )
        orders = list(
            await session.scalars(
                select(Order)
                .where(Order.account_id == account_id, Order.status.in_(OPEN))
                .order_by(Order.id)
                .execution_options(populate_existing=True)
            )
        )
        await _release(session, orders)
        return orders


async def _release(session: AsyncSession, orders: Sequence[Order]) -> None:
    """Cancel ``orders`` (all of one account) and give back their reservations."""
    if not orders:
        return
    account_id = orders[0].account_id
    now = utcnow()
    account = await session.scalar(
        select(Account)
        .where(Account.id == account_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert account is not None
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
    await _bulk_update(session, Order, [_order_row(order, now) for order in orders])
    await session.execute(
        update(Account).where(Account.id == account.id).values(reserved_cash=account.reserved_cash)
    )
    if sells:
        positions = await session.scalars(
            select(Position)
            .where(
                Position.account_id == account_id,
                Position.instrument_id.in_(sorted(sells)),
            )
            .order_by(Position.instrument_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        await _bulk_update(
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
    session.expunge_all()


async def get_order(session: AsyncSession, account_id: int, order_id: int) -> Order:
    """One order of ``account_id``; another account's order is reported as not found."""
    order = await session.scalar(
        select(Order).where(Order.id == order_id, Order.account_id == account_id)
    )
    if order is None:
        raise NotFound(f"order {order_id} not found")
    return order


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


__all__ = [
    "MAX_PLACE_STATEMENTS",
    "OrderRequest",
    "PlaceResult",
    "cancel_all",
    "cancel_order",
    "get_order",
    "list_orders",
    "place_order",
    "symbols_by_id",
]
