"""Placing an order: idempotency, risk, matching and settlement in one transaction.

:func:`place_order` is the story of one order. It locks the instrument (the
symbol's book), answers a replayed ``client_order_id`` with the stored order,
reads the resting orders it would cross, locks the accounts and positions of
every party (the locking order is documented in :mod:`app.services.queries`),
checks pre-trade risk (:mod:`app.domain.risk`), matches
(:mod:`app.domain.matching`), settles (:mod:`app.domain.settlement`) and writes
the result (:mod:`app.services.settlement_writes`). Cancelling lives in
:mod:`app.services.cancels`.

Placing an order runs at most :data:`MAX_PLACE_STATEMENTS` SQL statements,
however many resting orders it trades against: rows are read with one query
per table and written with one executemany per table.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.models import Account, Fill, Instrument, Order, Position, utcnow
from app.domain import risk
from app.domain.enums import OrderStatus, OrderType, Side, TimeInForce
from app.domain.matching import IncomingOrder, RestingOrder, match
from app.domain.settlement import Balance, Holding, OrderState, settle
from app.services import queries
from app.services.errors import IdempotencyConflict
from app.services.settlement_writes import write_settlement

ZERO = Decimal(0)
MAX_PLACE_STATEMENTS = 13
"""Upper bound of SQL statements for one order, whatever it trades against."""


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
            existing = await queries.find_by_client_id(session, account_id, request.client_order_id)
        if existing is None:
            raise
        return _replay(existing, request)


async def _place(
    session: AsyncSession, account_id: int, request: OrderRequest, collar: Decimal
) -> PlaceResult:
    instrument = await queries.lock_instrument(session, request.symbol)
    if request.client_order_id is not None:
        existing = await queries.find_by_client_id(session, account_id, request.client_order_id)
        if existing is not None:
            return _replay(existing, request)

    order = _new_order(account_id, instrument, request)
    bound = _price_bound(instrument, request, collar)
    makers = (
        await queries.crossing_orders(session, instrument.id, request.side, bound, request.qty)
        if bound is not None
        else []
    )
    parties = {account_id} | {maker.account_id for maker in makers}
    accounts = await queries.lock_accounts(session, parties)
    positions = await queries.lock_positions(session, instrument.id, parties)
    # From here rows are written explicitly (one statement per table), so the
    # unit of work must not track them.
    for row in (*makers, *accounts.values(), *positions.values()):
        session.expunge(row)
    try:
        approval = _approve(
            instrument, request, accounts[account_id], positions[account_id], collar
        )
    except risk.Rejected as rejection:
        return await _store_rejected(session, order, rejection)

    result = match(_incoming(account_id, request, approval), [_resting(m) for m in makers])
    settled = settle(
        _state(order, approval.price_bound),
        result,
        {maker.id: _state(maker, _limit(maker)) for maker in makers},
        {a.id: Balance(a.cash, a.reserved_cash) for a in accounts.values()},
        {p.account_id: _holding(p) for p in positions.values()},
    )
    _take_state(order, settled.taker)
    session.add(order)
    await session.flush()  # assigns order.id
    fills = await write_settlement(session, instrument, order, result, settled, positions)
    return PlaceResult(order, fills=fills)


def _replay(existing: Order, request: OrderRequest) -> PlaceResult:
    if existing.request_hash != request.fingerprint():
        raise IdempotencyConflict(
            f"client_order_id {request.client_order_id!r} was used for a different order"
        )
    return PlaceResult(existing, replayed=True)


async def _store_rejected(
    session: AsyncSession, order: Order, rejection: risk.Rejected
) -> PlaceResult:
    order.status = OrderStatus.REJECTED
    order.reject_reason = f"{rejection.reason.value}: {rejection.detail}"[:200]
    session.add(order)
    await session.flush()
    return PlaceResult(order)


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


def _reference_price(instrument: Instrument) -> Decimal | None:
    return instrument.last_price or instrument.reference_price


def _price_bound(instrument: Instrument, request: OrderRequest, collar: Decimal) -> Decimal | None:
    if request.order_type is OrderType.LIMIT:
        return request.limit_price
    reference = _reference_price(instrument)
    if reference is None:
        return None
    return risk.collar_price(request.side, reference, collar, instrument.tick_size)


def _approve(
    instrument: Instrument,
    request: OrderRequest,
    account: Account,
    position: Position,
    collar: Decimal,
) -> risk.Approval:
    return risk.approve(
        side=request.side,
        order_type=request.order_type,
        qty=request.qty,
        limit_price=request.limit_price,
        rules=risk.InstrumentRules(
            instrument.symbol, instrument.tick_size, instrument.lot_size, instrument.tradable
        ),
        buying_power=account.cash - account.reserved_cash,
        available_qty=position.qty - position.reserved_qty,
        reference_price=_reference_price(instrument),
        collar=collar,
    )


def _incoming(account_id: int, request: OrderRequest, approval: risk.Approval) -> IncomingOrder:
    return IncomingOrder(
        order_id=0,
        account_id=account_id,
        side=request.side,
        order_type=request.order_type,
        time_in_force=request.time_in_force,
        qty=request.qty,
        price_bound=approval.price_bound,
    )


def _limit(order: Order) -> Decimal:
    assert order.limit_price is not None  # resting orders are always limit orders
    return order.limit_price


def _resting(order: Order) -> RestingOrder:
    return RestingOrder(
        order.id, order.account_id, order.side, _limit(order), order.qty - order.filled_qty
    )


def _state(order: Order, reserve_price: Decimal) -> OrderState:
    return OrderState(
        account_id=order.account_id,
        side=order.side,
        qty=order.qty,
        reserve_price=reserve_price,
        filled_qty=order.filled_qty,
        filled_notional=order.filled_notional,
        reserved_cash=order.reserved_cash,
        status=order.status,
    )


def _take_state(order: Order, state: OrderState) -> None:
    order.filled_qty = state.filled_qty
    order.filled_notional = state.filled_notional
    order.reserved_cash = state.reserved_cash
    order.status = state.status


def _holding(position: Position) -> Holding:
    return Holding(position.qty, position.reserved_qty, position.avg_price, position.realized_pnl)


__all__ = ["MAX_PLACE_STATEMENTS", "OrderRequest", "PlaceResult", "place_order"]
