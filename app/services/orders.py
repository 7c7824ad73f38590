"""Placing an order: idempotency, risk, matching and settlement in one transaction.

:func:`place_order` is the story of one order, and it has two implementations that a
differential test (``tests/integration/test_order_paths_agree.py``) holds to the same
rows:

- **On PostgreSQL, in the database**: one statement, ``SELECT * FROM place_order(...)``
  (the PL/pgSQL function of migration 0003), run in autocommit -- its own transaction,
  one round trip instead of ten to thirteen. Python's part is the request's
  fingerprint, the answer for a replay, and the errors.
- **In Python** (the reference, and the only path on SQLite): lock the instrument
  (the symbol's book) and, in the same round trip, answer a replayed
  ``client_order_id`` with the stored order; read the resting orders it would cross,
  lock the accounts of every party and read their positions (the locking order is
  documented in :mod:`app.services.queries`), check pre-trade risk
  (:mod:`app.domain.risk`), match (:mod:`app.domain.matching`), settle
  (:mod:`app.domain.settlement`) and write the result
  (:mod:`app.services.settlement_writes`). It is SQLAlchemy Core, statements built once
  (:mod:`app.services.order_statements`), and runs at most :data:`MAX_PLACE_STATEMENTS`
  statements however many resting orders it trades against.

Both take the same locks in the same order and write the same rows, so they can serve
side by side. Cancelling lives in :mod:`app.services.cancels`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal
from json.encoder import encode_basestring_ascii as _json_string  # json.dumps's, in C

import asyncpg
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from app.db.models import Order, utcnow
from app.domain import risk
from app.domain.enums import OrderStatus, OrderType, Side, TimeInForce
from app.domain.matching import IncomingOrder, RestingOrder, match
from app.domain.settlement import Balance, Holding, OrderState, settle
from app.services import accounts, queries
from app.services import order_statements as sql
from app.services.accounts import Owner
from app.services.errors import IdempotencyConflict, NotFound
from app.services.settlement_writes import write_settlement

ZERO = Decimal(0)
TRADE_STATEMENTS = 10
"""Statements of an order that trades, its parties' positions existing: lock the book
(with the idempotency lookup), read the makers, lock the parties, insert the order, the
fills and the ledger entries, update the makers, the last price, the accounts and the
positions."""
MAX_PLACE_STATEMENTS = TRADE_STATEMENTS + 2
"""Upper bound of SQL statements for one order, whatever it trades against: a party's
first order in the instrument also creates its position and locks the parties again."""
ORDER_COLUMNS = tuple(column.name for column in sql.orders.c)
ORDER_FIELDS = tuple(name for name in ORDER_COLUMNS if name != "id")


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
        """A stable hash of every field except ``client_order_id``: SHA-256 of the text
        ``json.dumps(fields, sort_keys=True)`` gives, written out without building an
        encoder (that was 3% of an order's instructions). Stored orders keep their
        hashes: ``tests/unit/test_fingerprint.py`` holds the two texts equal."""
        price = self.limit_price
        limit = "null" if price is None else _json_string(str(price.normalize()))
        text = (
            f'{{"limit_price": {limit}, "qty": {_json_string(str(self.qty.normalize()))}, '
            f'"side": {_json_string(self.side.value)}, "symbol": {_json_string(self.symbol)}, '
            f'"tif": {_json_string(self.time_in_force.value)}, '
            f'"type": {_json_string(self.order_type.value)}}}'
        )
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass(slots=True)
class PlaceResult:
    """The order as stored, whether it was a replay, and how many fills it produced."""

    order: Order
    replayed: bool = False
    fill_count: int = 0


async def place_order(
    sessions: async_sessionmaker[AsyncSession],
    account_id: int,
    request: OrderRequest,
    *,
    collar: Decimal,
    in_database: bool | None = None,
) -> PlaceResult:
    """Place an order for ``account_id``: idempotency, risk, matching and settlement in
    one transaction.

    A replay of the same ``client_order_id`` and payload returns the stored order;
    another payload raises :class:`IdempotencyConflict`. Orders failing a risk
    check are stored with status ``rejected`` and the reason. ``in_database`` picks
    the implementation: by default the database function on PostgreSQL and Python
    elsewhere; ``False`` forces the Python reference.
    """
    return await _place_for(sessions, Owner(account_id=account_id), request, collar, in_database)


async def place_order_for_user(
    sessions: async_sessionmaker[AsyncSession],
    user_id: int,
    request: OrderRequest,
    *,
    collar: Decimal,
    in_database: bool | None = None,
) -> PlaceResult:
    """Place an order for the account of ``user_id`` -- a bearer token's subject.

    The user must exist and be active, which is checked in the order's own transaction
    (:class:`AuthenticationFailed` otherwise): the API needs no read of the user before
    it, so an order costs one round trip on PostgreSQL, not two. Otherwise as
    :func:`place_order`.
    """
    return await _place_for(sessions, Owner(user_id=user_id), request, collar, in_database)


async def _place_for(
    sessions: async_sessionmaker[AsyncSession],
    owner: Owner,
    request: OrderRequest,
    collar: Decimal,
    in_database: bool | None,
) -> PlaceResult:
    engine = sql.bound_engine(sessions)
    try:
        if sql.in_database(engine, in_database):
            return await _place_in_database(engine, owner, request, collar)
        async with sessions() as session, session.begin():
            account_id = await accounts.account_of(session, owner)
            return await _place(session, account_id, request, collar)
    except (IntegrityError, asyncpg.UniqueViolationError):
        # Two requests with one client_order_id raced past the check: the loser
        # sees the winner's row now, or the error was something else.
        if request.client_order_id is None:
            raise
        async with sessions() as session:
            account_id = await accounts.account_of(session, owner)
            existing = await queries.find_by_client_id(session, account_id, request.client_order_id)
        if existing is None:
            raise
        return _replay(existing, request)


async def _place_in_database(
    engine: AsyncEngine, owner: Owner, request: OrderRequest, collar: Decimal
) -> PlaceResult:
    arguments = (
        owner.user_id,
        owner.account_id,
        request.symbol,
        request.side.value,
        request.order_type.value,
        request.time_in_force.value,
        request.qty,
        request.limit_price,
        request.client_order_id,
        request.fingerprint(),
        collar,
        utcnow(),
    )
    found = await sql.call_in_database(engine, sql.PLACE_IN_DATABASE, *arguments)
    if found is None:
        raise NotFound(f"unknown symbol {request.symbol!r}")
    order = sql.order_from_result(found)
    if found[sql.RESULT_PREFIX + "replayed"]:
        return _replay(order, request)
    return PlaceResult(order, fill_count=found[sql.RESULT_PREFIX + "fills"])


async def _place(
    session: AsyncSession, account_id: int, request: OrderRequest, collar: Decimal
) -> PlaceResult:
    connection = await session.connection()
    book = await sql.lock_book(connection, request.symbol, account_id, request.client_order_id)
    if book is None:
        raise NotFound(f"unknown symbol {request.symbol!r}")
    if book.replay is not None:
        return _replay(book.replay, request)

    bound = _price_bound(book, request, collar)
    makers = (
        await sql.crossing_makers(connection, book.id, request.side, bound, request.qty)
        if bound is not None
        else []
    )
    parties = await sql.lock_parties(
        connection, book.id, {account_id} | {maker.account_id for maker in makers}
    )
    order = _new_order(account_id, book, request)
    try:
        approval = _approve(book, request, parties[account_id], collar)
    except risk.Rejected as rejection:
        return await _store_rejected(connection, order, rejection)

    result = match(_incoming(account_id, request, approval), [_resting(m) for m in makers])
    settled = settle(
        _state(order, approval.price_bound),
        result,
        {maker.id: _state(maker, maker.limit_price) for maker in makers},
        {p.account_id: Balance(p.cash, p.reserved_cash) for p in parties.values()},
        {p.account_id: _holding(p) for p in parties.values()},
    )
    _take_state(order, settled.taker)
    await _insert(connection, order)
    fills = await write_settlement(connection, book.symbol, order, result, settled, parties)
    return PlaceResult(order, fill_count=len(fills))


def _replay(existing: Order, request: OrderRequest) -> PlaceResult:
    if existing.request_hash != request.fingerprint():
        raise IdempotencyConflict(
            f"client_order_id {request.client_order_id!r} was used for a different order"
        )
    return PlaceResult(existing, replayed=True)


async def _store_rejected(
    connection: AsyncConnection, order: Order, rejection: risk.Rejected
) -> PlaceResult:
    order.status = OrderStatus.REJECTED
    order.reject_reason = f"{rejection.reason.value}: {rejection.detail}"[:200]
    await _insert(connection, order)
    return PlaceResult(order)


async def _insert(connection: AsyncConnection, order: Order) -> None:
    """Insert the taker and give it its id (the time priority within the symbol)."""
    values = {name: getattr(order, name) for name in ORDER_FIELDS}
    order.id = (await connection.execute(sql.INSERT_ORDER, values)).scalar_one()


def _new_order(account_id: int, book: sql.Book, request: OrderRequest) -> Order:
    now = utcnow()
    return Order(
        account_id=account_id,
        instrument_id=book.id,
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


def _reference_price(book: sql.Book) -> Decimal | None:
    return book.last_price or book.reference_price


def _price_bound(book: sql.Book, request: OrderRequest, collar: Decimal) -> Decimal | None:
    if request.order_type is OrderType.LIMIT:
        return request.limit_price
    reference = _reference_price(book)
    if reference is None:
        return None
    return risk.collar_price(request.side, reference, collar, book.tick_size)


def _approve(
    book: sql.Book, request: OrderRequest, taker: sql.Party, collar: Decimal
) -> risk.Approval:
    return risk.approve(
        side=request.side,
        order_type=request.order_type,
        qty=request.qty,
        limit_price=request.limit_price,
        rules=risk.InstrumentRules(book.symbol, book.tick_size, book.lot_size, book.tradable),
        buying_power=taker.cash - taker.reserved_cash,
        available_qty=taker.qty - taker.reserved_qty,
        reference_price=_reference_price(book),
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


def _resting(maker: sql.Maker) -> RestingOrder:
    return RestingOrder(
        maker.id, maker.account_id, maker.side, maker.limit_price, maker.qty - maker.filled_qty
    )


def _state(order: Order | sql.Maker, reserve_price: Decimal) -> OrderState:
    """An order's settlement state; a resting maker is a limit order, reserving at its
    limit price."""
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


def _holding(party: sql.Party) -> Holding:
    return Holding(party.qty, party.reserved_qty, party.avg_price, party.realized_pnl)


__all__ = [
    "MAX_PLACE_STATEMENTS",
    "TRADE_STATEMENTS",
    "OrderRequest",
    "PlaceResult",
    "place_order",
    "place_order_for_user",
]
