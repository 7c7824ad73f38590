"""The order path's SQL: Core statements built once, and the rows they read.

Placing an order is the hottest path of the service. Its statements are built at
import time with bound parameters, so each execution skips building and compiling
a query (SQLAlchemy's compiled cache answers), and they are executed on the
session's connection, outside the ORM unit of work: the rows come back as plain
frozen dataclasses, and every write is explicit.

The locking order is the one :mod:`app.services.queries` documents: the instrument
row first (:data:`LOCK_BOOK`), then the account rows in ascending id
(:data:`LOCK_PARTIES`). Positions and orders of an instrument are only written by
transactions holding its instrument row, so once the lock is held a later statement
reads them as committed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from typing import Any

import asyncpg
from sqlalchemy import (
    Table,
    and_,
    bindparam,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.types import TypeDecorator

from app.db.models import (
    OPEN_STATUS_VALUES,
    Account,
    Fill,
    Instrument,
    LedgerEntry,
    Order,
    Position,
    utcnow,
)
from app.db.types import ExactDecimal
from app.domain.enums import OrderStatus, Side
from app.services.accounts import REFUSED_CALLER
from app.services.errors import AuthenticationFailed

ZERO = Decimal(0)


def _table(model: type[Any]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


instruments = _table(Instrument)
orders = _table(Order)
accounts = _table(Account)
positions = _table(Position)
fills = _table(Fill)
ledger = _table(LedgerEntry)

REPLAY_PREFIX = "replay_"

LOCK_BOOK = (
    select(instruments, *(column.label(REPLAY_PREFIX + column.name) for column in orders.c))
    .select_from(
        instruments.outerjoin(
            orders,
            and_(
                orders.c.account_id == bindparam("account_id"),
                orders.c.client_order_id == bindparam("client_order_id"),
            ),
        )
    )
    .where(instruments.c.symbol == bindparam("symbol"))
    .with_for_update(of=instruments)
)
"""Lock one symbol's instrument row, and look up the caller's order with the
``client_order_id`` in the same round trip.

The lookup reads the snapshot taken before the lock was granted: an order with the
same id committed meanwhile is not seen, and the unique constraint refuses the second
insert instead (the caller then answers with the stored order)."""

MAKER_COLUMNS = (
    orders.c.id,
    orders.c.account_id,
    orders.c.side,
    orders.c.limit_price,
    orders.c.qty,
    orders.c.filled_qty,
    orders.c.filled_notional,
    orders.c.reserved_cash,
    orders.c.status,
)


def _crossing(maker_side: Side) -> Any:
    """Resting orders of ``maker_side`` within ``:bound``, best first, only as many as
    can fill ``:qty`` (the quantity ahead of each row in priority is below it)."""
    bound = bindparam("bound", type_=ExactDecimal())
    price_ok = (
        orders.c.limit_price <= bound
        if maker_side is Side.SELL
        else (orders.c.limit_price >= bound)
    )
    priority = (
        (orders.c.limit_price.asc(), orders.c.id.asc())
        if maker_side is Side.SELL
        else (orders.c.limit_price.desc(), orders.c.id.asc())
    )
    ahead = func.sum(orders.c.qty - orders.c.filled_qty).over(order_by=priority, rows=(None, -1))
    ranked = (
        select(orders.c.id.label("id"), ahead.label("ahead"))
        .where(
            orders.c.instrument_id == bindparam("instrument_id"),
            orders.c.side == maker_side,
            orders.c.status.in_(OPEN_STATUS_VALUES),
            price_ok,
        )
        .subquery()
    )
    zero = literal(ZERO, ExactDecimal())
    return (
        select(*MAKER_COLUMNS)
        .join(ranked, ranked.c.id == orders.c.id)
        .where(func.coalesce(ranked.c.ahead, zero) < bindparam("qty", type_=ExactDecimal()))
        .order_by(*priority)
    )


CROSSING = {Side.BUY: _crossing(Side.SELL), Side.SELL: _crossing(Side.BUY)}
"""By the incoming order's side: the makers it would trade with."""

LOCK_PARTIES = (
    select(
        accounts.c.id,
        accounts.c.cash,
        accounts.c.reserved_cash,
        positions.c.id.label("position_id"),
        positions.c.qty,
        positions.c.reserved_qty,
        positions.c.avg_price,
        positions.c.realized_pnl,
    )
    .select_from(
        accounts.outerjoin(
            positions,
            and_(
                positions.c.account_id == accounts.c.id,
                positions.c.instrument_id == bindparam("instrument_id"),
            ),
        )
    )
    .where(accounts.c.id.in_(bindparam("account_ids", expanding=True)))
    .order_by(accounts.c.id)
    .with_for_update(of=accounts)
)
"""Lock the parties' account rows in ascending id and read their positions in the
instrument (a missing position reads as NULLs)."""

INSERT_ORDER = insert(orders).returning(orders.c.id)
INSERT_FILLS = insert(fills).returning(fills.c.id, fills.c.buy_order_id, fills.c.sell_order_id)
"""Returns each fill's id with its orders, in no particular order (asking for the
parameters' order would make SQLite insert row by row)."""
INSERT_LEDGER = insert(ledger)
SET_LAST_PRICE = (
    update(instruments)
    .where(instruments.c.id == bindparam("instrument_id"))
    .values(last_price=bindparam("last_price"))
)


def _by_id(table: Table, *names: str) -> Any:
    """UPDATE ``table`` SET the named columns WHERE id = ``:row_id`` (for executemany)."""
    return (
        table.update()
        .where(table.c.id == bindparam("row_id"))
        .values({name: bindparam(name) for name in names})
    )


UPDATE_MAKERS = _by_id(
    orders, "filled_qty", "filled_notional", "reserved_cash", "status", "updated_at"
)
UPDATE_ACCOUNTS = _by_id(accounts, "cash", "reserved_cash")
UPDATE_POSITIONS = _by_id(
    positions, "qty", "reserved_qty", "avg_price", "realized_pnl", "updated_at"
)


RESULT_PREFIX = "o_"
PLACE_IN_DATABASE = "SELECT * FROM place_order($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
"""The whole order path in one round trip on PostgreSQL, sent on the driver's (asyncpg's)
connection: the ``place_order`` function (migration 0003), given the user (then checked
to be active: SQLSTATE 28000 if not) or the account, the
request's fields in the function's order, the collar and the time; it answers with the
order as stored (columns :data:`RESULT_PREFIX` + name), whether it was a replay
(``o_replayed``) and how many fills it made (``o_fills``) -- or no row for an unknown
symbol. :func:`order_from_result` turns that row into an :class:`~app.db.models.Order`."""


CANCEL_IN_DATABASE = "SELECT * FROM cancel_order($1, $2, $3, $4)"
"""Cancelling one order in one round trip on PostgreSQL: the ``cancel_order`` function
(migration 0004), given the user (checked to be active) or the account, the order id and
the time; it answers with the order as stored and whether it was cancelled now
(``o_canceled``: false when it was not open), or no row when the caller has no such
order."""


def bound_engine(sessions: async_sessionmaker[AsyncSession]) -> AsyncEngine:
    """The engine ``sessions`` open their sessions on."""
    engine: AsyncEngine = sessions.kw["bind"]
    return engine


def in_database(engine: AsyncEngine, requested: bool | None) -> bool:
    """Whether an order operation runs as the database's trading function: as
    ``requested``, or by default wherever the functions exist (PostgreSQL)."""
    return engine.dialect.name == "postgresql" if requested is None else requested


async def call_in_database(engine: AsyncEngine, statement: str, *arguments: Any) -> Any:
    """The first row (None: no row) of one of the trading functions, called on a pooled
    connection's driver (asyncpg) connection.

    Outside a transaction block asyncpg sends no BEGIN or COMMIT: the function's
    statement is its own transaction. SQLAlchemy's statement machinery -- half the
    client CPU of such a call, measured -- is skipped; :func:`order_from_result` types the
    row as the ORM loads it. A refused user (SQLSTATE 28000) is
    :class:`~app.services.errors.AuthenticationFailed`.
    """
    async with engine.connect() as connection:
        driver = (await connection.get_raw_connection()).driver_connection
        assert driver is not None, "a checked-out connection has its driver's connection"
        try:
            return await driver.fetchrow(statement, *arguments)
        except asyncpg.InvalidAuthorizationSpecificationError:  # SQLSTATE 28000
            raise AuthenticationFailed(REFUSED_CALLER) from None


def _result_converter(column_type: Any, dialect: Dialect) -> Callable[[Any], Any] | None:
    """How a value of ``column_type`` comes back from the driver into Python, as the ORM
    would load it (enum members, exact decimals, UTC datetimes), or None: as it is."""
    if isinstance(column_type, TypeDecorator):
        return partial(column_type.process_result_value, dialect=dialect)
    enum_class: Callable[[Any], Any] | None = getattr(column_type, "enum_class", None)
    if enum_class is None:
        return None
    members = enum_class

    def member(value: Any) -> Any:
        return None if value is None else members(value)

    return member


_POSTGRESQL: Dialect = postgresql.asyncpg.dialect()  # type: ignore[no-untyped-call]
_ORDER_CONVERTERS = tuple(
    (column.name, RESULT_PREFIX + column.name, _result_converter(column.type, _POSTGRESQL))
    for column in orders.c
)


def order_from_result(found: Mapping[str, Any]) -> Order:
    """The order of a :data:`PLACE_IN_DATABASE` or :data:`CANCEL_IN_DATABASE` row, typed
    as the ORM loads it."""
    values = {}
    for name, key, convert in _ORDER_CONVERTERS:
        value = found[key]
        values[name] = value if convert is None else convert(value)
    return Order(**values)


# -- cancelling --------------------------------------------------------------------------

LOCK_ORDER_BOOK = (
    select(instruments.c.id)
    .where(
        instruments.c.id
        == select(orders.c.instrument_id)
        .where(orders.c.id == bindparam("order_id"), orders.c.account_id == bindparam("account_id"))
        .scalar_subquery()
    )
    .with_for_update()
)
"""Lock the instrument of one of the caller's orders (no row: no such order of theirs)."""
OPEN_ORDER_BOOKS = (
    select(orders.c.instrument_id)
    .where(orders.c.account_id == bindparam("account_id"), orders.c.status.in_(OPEN_STATUS_VALUES))
    .distinct()
)
LOCK_BOOKS = (
    select(instruments.c.id)
    .where(instruments.c.id.in_(bindparam("instrument_ids", expanding=True)))
    .order_by(instruments.c.id)
    .with_for_update()
)
READ_ORDER = select(orders).where(orders.c.id == bindparam("order_id"))
OPEN_ORDERS = (
    select(orders)
    .where(orders.c.account_id == bindparam("account_id"), orders.c.status.in_(OPEN_STATUS_VALUES))
    .order_by(orders.c.id)
)
"""Read after the instruments are locked: as committed, and no one else can change them."""
CANCEL_ORDERS = _by_id(orders, "status", "reserved_cash", "updated_at")
RELEASE_CASH = (
    update(accounts)
    .where(accounts.c.id == bindparam("owner"))
    .values(reserved_cash=accounts.c.reserved_cash - bindparam("amount", type_=ExactDecimal()))
)
RELEASE_QTY = (
    update(positions)
    .where(
        positions.c.account_id == bindparam("owner"),
        positions.c.instrument_id == bindparam("book"),
    )
    .values(
        reserved_qty=positions.c.reserved_qty - bindparam("released", type_=ExactDecimal()),
        updated_at=bindparam("released_at"),
    )
)
"""Give back reservations relative to the row as it is: the account and position row
locks are taken by these updates, after the instruments' (the documented order)."""


@dataclass(frozen=True, slots=True)
class Book:
    """The locked instrument row, and the caller's order with the same client id, if any."""

    id: int
    symbol: str
    tick_size: Decimal
    lot_size: Decimal
    tradable: bool
    last_price: Decimal | None
    reference_price: Decimal | None
    replay: Order | None


@dataclass(frozen=True, slots=True)
class Maker:
    """A resting order an incoming order crosses, as it stands."""

    id: int
    account_id: int
    side: Side
    limit_price: Decimal
    qty: Decimal
    filled_qty: Decimal
    filled_notional: Decimal
    reserved_cash: Decimal
    status: OrderStatus


@dataclass(frozen=True, slots=True)
class Party:
    """A locked account and its position in the traded instrument."""

    account_id: int
    cash: Decimal
    reserved_cash: Decimal
    position_id: int
    qty: Decimal
    reserved_qty: Decimal
    avg_price: Decimal
    realized_pnl: Decimal


async def lock_book(
    connection: AsyncConnection, symbol: str, account_id: int, client_order_id: str | None
) -> Book | None:
    """Lock the symbol's instrument row; None for an unknown symbol."""
    row = (
        await connection.execute(
            LOCK_BOOK,
            {"symbol": symbol, "account_id": account_id, "client_order_id": client_order_id},
        )
    ).first()
    if row is None:
        return None
    values = row._mapping
    replay = None
    if values[REPLAY_PREFIX + "id"] is not None:
        replay = Order(**{c.name: values[REPLAY_PREFIX + c.name] for c in orders.c})
    return Book(
        row.id,
        row.symbol,
        row.tick_size,
        row.lot_size,
        row.tradable,
        row.last_price,
        row.reference_price,
        replay,
    )


async def crossing_makers(
    connection: AsyncConnection, instrument_id: int, side: Side, bound: Decimal, qty: Decimal
) -> list[Maker]:
    """The resting orders an incoming ``side`` order bounded by ``bound`` would trade with."""
    rows = await connection.execute(
        CROSSING[side], {"instrument_id": instrument_id, "bound": bound, "qty": qty}
    )
    return [Maker(*row) for row in rows]


async def lock_parties(
    connection: AsyncConnection, instrument_id: int, account_ids: Iterable[int]
) -> dict[int, Party]:
    """Lock the accounts (ascending id) and read their positions, creating missing ones.

    Returns the parties by account id; a missing account is simply absent.
    """
    wanted = sorted(set(account_ids))
    rows = await _locked(connection, instrument_id, wanted)
    missing = [row.id for row in rows if row.position_id is None]
    if missing:
        await _insert_positions(connection, instrument_id, missing)
        rows = await _locked(connection, instrument_id, wanted)
    return {row.id: _party(row) for row in rows if row.position_id is not None}


def _party(row: Any) -> Party:
    return Party(
        row.id,
        row.cash,
        row.reserved_cash,
        row.position_id,
        row.qty,
        row.reserved_qty,
        row.avg_price,
        row.realized_pnl,
    )


async def _locked(
    connection: AsyncConnection, instrument_id: int, account_ids: Sequence[int]
) -> Sequence[Any]:
    result = await connection.execute(
        LOCK_PARTIES, {"instrument_id": instrument_id, "account_ids": list(account_ids)}
    )
    return result.all()


async def _insert_positions(
    connection: AsyncConnection, instrument_id: int, account_ids: Sequence[int]
) -> None:
    """Insert empty positions (none can exist: the instrument lock is held, but a
    conflict is harmless)."""
    insert_class = sqlite.Insert if connection.dialect.name == "sqlite" else postgresql.Insert
    now = utcnow()
    rows = [
        {"account_id": account_id, "instrument_id": instrument_id, "qty": ZERO,
         "reserved_qty": ZERO, "avg_price": ZERO, "realized_pnl": ZERO, "updated_at": now}
        for account_id in account_ids
    ]  # fmt: skip
    await connection.execute(
        insert_class(positions)
        .values(rows)
        .on_conflict_do_nothing(index_elements=("account_id", "instrument_id"))
    )
