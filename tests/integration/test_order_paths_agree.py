"""The two order paths agree: the Python reference and PostgreSQL's functions.

Two private copies of the migrated, seeded template are seeded alike through the
services, then driven by the same seeded-random operations (placing and cancelling),
one at a time and alternately: database A through the Python paths
(``in_database=False``), database B through the ``place_order`` and ``cancel_order``
functions (``in_database=True``). Every operation must end the same way on
both -- the same error, or the same order, replay flag and fill count -- and both
databases must hold the same rows, ids included, after every operation; at the end the
invariant checker must find nothing on either. A last test shows that the state
comparison does report a difference.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Table, func, select, update

from app.db.engine import Database
from app.db.models import OPEN_STATUS_VALUES, Order
from app.domain import risk
from app.domain.enums import OrderType, Side, TimeInForce
from app.services import accounts, cancels
from app.services import order_statements as sql
from app.services.errors import ServiceError
from app.services.invariants import check_invariants
from app.services.orders import OrderRequest, place_order
from tests.support import backends

pytestmark = pytest.mark.slow

SEEDS = (11, 23, 47)
OPERATIONS = 150
COLLAR = Decimal("0.05")
TICK = Decimal("0.01")
PASSWORD = "agree-trader-pass"  # pragma: allowlist secret
UNKNOWN_SYMBOL = "NOPE"
CENTER = {"AAPL": Decimal("190.00"), "MSFT": Decimal("410.00")}
"""The instruments' reference prices (migration 0002): limit prices are drawn around them."""
TIMESTAMPS = frozenset({"created_at", "updated_at"})
COMPARED = (
    ("orders", sql.orders),
    ("fills", sql.fills),
    ("ledger_entries", sql.ledger),
    ("accounts", sql.accounts),
    ("positions", sql.positions),
)
"""The tables compared row by row, every column but the timestamps (which the two paths
take from two clocks)."""
ORDER_FIELDS = tuple(c.name for c in sql.orders.c if c.name not in TIMESTAMPS)


@dataclass(frozen=True, slots=True)
class Trader:
    """An account to seed: its cash, and its holdings as (whole lots, cost price) by symbol."""

    email: str
    cash: Decimal
    holdings: Mapping[str, tuple[int, Decimal]] = field(default_factory=dict)


TRADERS = (
    Trader(
        "dana@agree.example",
        Decimal("1000000"),
        {"AAPL": (500, Decimal("183.37")), "MSFT": (300, Decimal("401.10"))},
    ),
    Trader("erin@agree.example", Decimal("1000000"), {"AAPL": (200, Decimal("191.25"))}),
    Trader("finn@agree.example", Decimal("250000"), {"MSFT": (120, Decimal("415.55"))}),
    Trader("gwen@agree.example", Decimal("80000")),
    Trader(
        "hugo@agree.example",
        Decimal("20000"),
        {"AAPL": (40, Decimal("188.01")), "MSFT": (25, Decimal("409.99"))},
    ),
    Trader("ivy@agree.example", Decimal("250"), {"AAPL": (3, Decimal("190.00"))}),
)
"""Six accounts: two rich, two middling (one holding nothing), one small, one nearly broke."""


@dataclass(frozen=True, slots=True)
class Venue:
    """One database and the order path driven against it."""

    name: str
    database: Database
    in_database: bool


@dataclass(frozen=True, slots=True)
class Place:
    """Place ``request`` for ``account_id``."""

    account_id: int
    request: OrderRequest

    def __str__(self) -> str:
        r = self.request
        price = "" if r.limit_price is None else f" @ {r.limit_price}"
        cid = "" if r.client_order_id is None else f" client_order_id={r.client_order_id!r}"
        return (
            f"place(account {self.account_id}: {r.side.value} {r.order_type.value} "
            f"{r.qty} {r.symbol}{price} {r.time_in_force.value}{cid})"
        )


@dataclass(frozen=True, slots=True)
class Cancel:
    """Cancel order ``order_id`` as ``account_id``."""

    account_id: int
    order_id: int

    def __str__(self) -> str:
        return f"cancel(account {self.account_id}: order {self.order_id})"


Operation = Place | Cancel


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one operation ended: an error (its type and message), or the order and,
    for a placement, the replay flag and the fill count."""

    error: type[ServiceError] | None = None
    message: str | None = None
    order: Mapping[str, Any] | None = None
    replayed: bool | None = None
    fill_count: int | None = None


@dataclass(frozen=True, slots=True)
class Difference:
    """The first place two databases differ: a table, a row id, a column (``None`` when a
    row is missing on one side) and the two values."""

    table: str
    row_id: Any
    column: str | None
    a: Any
    b: Any

    def __str__(self) -> str:
        if self.column is None:
            return f"{self.table} id={self.row_id}: row in A {self.a!r}, in B {self.b!r}"
        return f"{self.table} id={self.row_id} column {self.column}: A={self.a!r} B={self.b!r}"


Snapshot = dict[str, list[dict[str, Any]]]


def _columns(table: Table) -> list[Any]:
    return [column for column in table.c if column.name not in TIMESTAMPS]


async def snapshot(database: Database) -> Snapshot:
    """Every compared row of ``database`` by table, ordered by id."""
    tables: Snapshot = {}
    async with database.read_sessions() as session:
        connection = await session.connection()
        for name, table in COMPARED:
            rows = await connection.execute(select(*_columns(table)).order_by(table.c.id))
            tables[name] = [dict(row) for row in rows.mappings()]
        prices = await connection.execute(
            select(sql.instruments.c.id, sql.instruments.c.last_price).order_by(
                sql.instruments.c.id
            )
        )
        tables["instruments"] = [dict(row) for row in prices.mappings()]
    return tables


def first_difference(a: Snapshot, b: Snapshot) -> Difference | None:
    """The first table, row and column where ``a`` and ``b`` differ; None when they agree."""
    for table in [name for name, _ in COMPARED] + ["instruments"]:
        rows_a, rows_b = a.get(table, []), b.get(table, [])
        for index in range(max(len(rows_a), len(rows_b))):
            row_a = rows_a[index] if index < len(rows_a) else None
            row_b = rows_b[index] if index < len(rows_b) else None
            if row_a is None or row_b is None or row_a["id"] != row_b["id"]:
                row_id = (row_a or row_b or {}).get("id")
                return Difference(table, row_id, None, row_a, row_b)
            for column, value in row_a.items():
                if row_b[column] != value:
                    return Difference(table, row_a["id"], column, value, row_b[column])
    return None


async def assert_same_state(venues: Sequence[Venue], context: str) -> None:
    """Fail, naming the first differing table, row and column, unless the databases agree."""
    a, b = await asyncio.gather(*(snapshot(venue.database) for venue in venues))
    difference = first_difference(a, b)
    assert difference is None, f"{context}: databases differ at {difference}"


def order_fields(order: Order) -> dict[str, Any]:
    """An order's columns but its timestamps."""
    return {name: getattr(order, name) for name in ORDER_FIELDS}


async def perform(operation: Operation, venue: Venue) -> Outcome:
    """Run ``operation`` against ``venue``; a service error is an outcome, not a failure."""
    sessions = venue.database.sessions
    try:
        if isinstance(operation, Place):
            result = await place_order(
                sessions,
                operation.account_id,
                operation.request,
                collar=COLLAR,
                in_database=venue.in_database,
            )
            return Outcome(
                order=order_fields(result.order),
                replayed=result.replayed,
                fill_count=result.fill_count,
            )
        canceled = await cancels.cancel_order(
            sessions, operation.account_id, operation.order_id, in_database=venue.in_database
        )
        return Outcome(order=order_fields(canceled))
    except ServiceError as error:
        return Outcome(error=type(error), message=error.message)


def outcome_difference(a: Outcome, b: Outcome) -> str | None:
    """What differs between two outcomes, the first field named; None when equal."""
    for name in ("error", "message", "replayed", "fill_count"):
        if getattr(a, name) != getattr(b, name):
            return f"{name}: A={getattr(a, name)!r} B={getattr(b, name)!r}"
    if (a.order is None) != (b.order is None):
        return f"order: A={a.order!r} B={b.order!r}"
    if a.order is not None and b.order is not None:
        for column in ORDER_FIELDS:
            if a.order[column] != b.order[column]:
                return f"order.{column}: A={a.order[column]!r} B={b.order[column]!r}"
    return None


# -- the scenario --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Resting:
    """An order as database A holds it, for choosing cancels and self-trades."""

    id: int
    account_id: int
    symbol: str
    side: Side
    limit_price: Decimal | None
    remaining: Decimal
    is_open: bool


class Scenario:
    """A seeded-random stream of operations; choices that need the book read database A
    (which, the comparison checks, holds what B holds)."""

    KINDS = (
        ("limit", 44), ("market", 8), ("off_tick", 4), ("off_lot", 4), ("too_large", 6),
        ("unknown_symbol", 2), ("replay", 6), ("conflict", 4), ("self_trade", 7),
        ("cancel", 12), ("cancel_closed", 2), ("cancel_foreign", 1), ("collar", 4),
        ("sell_out", 4),
    )  # fmt: skip

    def __init__(self, seed: int, account_ids: Sequence[int], reference: Database) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.account_ids = list(account_ids)
        self.reference = reference
        self.with_client_id: list[tuple[int, OrderRequest]] = []
        self.serial = 0
        self.used_ids: set[str] = set()
        self.pending: list[Operation] = []

    async def next(self) -> Operation:
        """The next operation."""
        operation = self.pending.pop(0) if self.pending else await self._draw()
        if isinstance(operation, Place):
            client_order_id = operation.request.client_order_id
            if client_order_id is not None and client_order_id not in self.used_ids:
                self.used_ids.add(client_order_id)
                self.with_client_id.append((operation.account_id, operation.request))
        return operation

    async def _draw(self) -> Operation:
        names = [name for name, _ in self.KINDS]
        weights = [weight for _, weight in self.KINDS]
        kind = self.rng.choices(names, weights)[0]
        make: Callable[[], Awaitable[Operation]] = getattr(self, f"_{kind}")
        return await make()

    def _client_id(self) -> str | None:
        if self.rng.random() < 0.3:
            self.serial += 1
            return f"s{self.seed}-{self.serial}"
        return None

    def _account(self, side: Side | None = None, symbol: str | None = None) -> int:
        """Mostly an account that can afford the order (a seller holding the symbol, a
        buyer with cash); now and then any account, to be refused."""
        if side is None or symbol is None or self.rng.random() < 0.15:
            return self.rng.choice(self.account_ids)
        able = [
            account_id
            for account_id, trader in zip(self.account_ids, TRADERS, strict=True)
            if (symbol in trader.holdings if side is Side.SELL else trader.cash >= 10_000)
        ]
        return self.rng.choice(able)

    def _symbol(self) -> str:
        return self.rng.choice(sorted(CENTER))

    def _price(self, symbol: str, side: Side) -> Decimal:
        # Buys lean above the reference, sells below, so that the book keeps crossing: a
        # third or more of the accepted limit orders trade (the rest build the book).
        low, high = (-30, 70) if side is Side.BUY else (-70, 30)
        return CENTER[symbol] + self.rng.randint(low, high) * TICK

    def _side(self) -> Side:
        return self.rng.choice((Side.BUY, Side.SELL))

    def _place(self, account_id: int, **values: Any) -> Place:
        values.setdefault("client_order_id", self._client_id())
        return Place(account_id, OrderRequest(**values))

    async def _limit(self) -> Operation:
        symbol, side = self._symbol(), self._side()
        tif = self.rng.choices((TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK), (6, 2, 2))[0]
        return self._place(
            self._account(side, symbol),
            symbol=symbol,
            side=side,
            order_type=OrderType.LIMIT,
            qty=Decimal(self.rng.randint(1, 20)),
            limit_price=self._price(symbol, side),
            time_in_force=tif,
        )

    async def _market(self) -> Operation:
        symbol, side = self._symbol(), self._side()
        return self._place(
            self._account(side, symbol),
            symbol=symbol,
            side=side,
            order_type=OrderType.MARKET,
            qty=Decimal(self.rng.randint(1, 20)),
            time_in_force=self.rng.choice((TimeInForce.IOC, TimeInForce.FOK)),
        )

    async def _off_tick(self) -> Operation:
        return self._off_grid(qty_extra=Decimal(0), price_extra=Decimal("0.005"))

    async def _off_lot(self) -> Operation:
        return self._off_grid(qty_extra=Decimal("0.5"), price_extra=Decimal(0))

    def _off_grid(self, qty_extra: Decimal, price_extra: Decimal) -> Operation:
        """A limit order off the lot or the tick grid: rejected on both paths."""
        symbol, side = self._symbol(), self._side()
        return self._place(
            self._account(),
            symbol=symbol,
            side=side,
            order_type=OrderType.LIMIT,
            qty=Decimal(self.rng.randint(1, 20)) + qty_extra,
            limit_price=self._price(symbol, side) + price_extra,
        )

    async def _too_large(self) -> Operation:
        symbol, side = self._symbol(), self._side()
        order_type = self.rng.choice((OrderType.LIMIT, OrderType.MARKET))
        return self._place(
            self._account(),
            symbol=symbol,
            side=side,
            order_type=order_type,
            qty=Decimal(self.rng.randint(6000, 9000)),
            limit_price=self._price(symbol, side) if order_type is OrderType.LIMIT else None,
            time_in_force=TimeInForce.IOC,
        )

    async def _unknown_symbol(self) -> Operation:
        return self._place(
            self._account(),
            symbol=UNKNOWN_SYMBOL,
            side=self._side(),
            order_type=OrderType.LIMIT,
            qty=Decimal(1),
            limit_price=Decimal("10.00"),
        )

    async def _replay(self) -> Operation:
        """The same payload under a used client_order_id: a replay -- or, now and then, a
        new order, when another account sends it (the ids are per account)."""
        if not self.with_client_id:
            return await self._limit()
        account_id, request = self.rng.choice(self.with_client_id)
        if self.rng.random() < 0.2:
            account_id = self.rng.choice([a for a in self.account_ids if a != account_id])
        return Place(account_id, request)

    async def _conflict(self) -> Operation:
        if not self.with_client_id:
            return await self._limit()
        account_id, request = self.rng.choice(self.with_client_id)
        bigger = OrderRequest(
            symbol=request.symbol,
            side=request.side,
            order_type=request.order_type,
            qty=request.qty + 1,
            limit_price=request.limit_price,
            time_in_force=request.time_in_force,
            client_order_id=request.client_order_id,
        )
        return Place(account_id, bigger)

    async def _self_trade(self) -> Operation:
        """The owner of the best resting order on one side crosses it."""
        book = [o for o in await self._orders() if o.is_open and o.limit_price is not None]
        if not book:
            return await self._limit()
        maker_side = self._side()
        side_orders = [o for o in book if o.side is maker_side] or book
        maker_side = side_orders[0].side
        symbol = self.rng.choice(sorted({o.symbol for o in side_orders}))
        candidates = [o for o in side_orders if o.symbol == symbol]
        best = min(
            candidates,
            key=lambda o: (-o.limit_price if maker_side is Side.BUY else o.limit_price, o.id),  # type: ignore[operator]
        )
        return self._place(
            best.account_id,
            symbol=symbol,
            side=maker_side.opposite,
            order_type=OrderType.LIMIT,
            qty=Decimal(self.rng.randint(1, int(best.remaining) + 3)),
            limit_price=best.limit_price,
            time_in_force=self.rng.choice(tuple(TimeInForce)),
        )

    async def _collar(self) -> Operation:
        """A resting order a tick around where a market order's collar would stop now, then
        a market order sweeping the whole opposite side: whether the collar's rounding
        reaches that order decides the trade."""
        symbol, maker_side = self._symbol(), self._side()
        taker_side = maker_side.opposite
        async with self.reference.read_sessions() as session:
            reference = await session.scalar(
                select(
                    func.coalesce(sql.instruments.c.last_price, sql.instruments.c.reference_price)
                ).where(sql.instruments.c.symbol == symbol)
            )
        assert reference is not None
        bound = risk.collar_price(taker_side, reference, COLLAR, TICK)
        opposite = [
            o for o in await self._orders() if o.is_open and o.symbol == symbol
            and o.side is maker_side
        ]  # fmt: skip
        maker_qty = Decimal(self.rng.randint(1, 5))
        sweep = sum((o.remaining for o in opposite), maker_qty) + self.rng.randint(0, 2)
        self.pending.append(
            self._place(
                self.account_ids[0],
                symbol=symbol,
                side=taker_side,
                order_type=OrderType.MARKET,
                qty=sweep,
                time_in_force=TimeInForce.IOC,
            )
        )
        return self._place(
            self._account(maker_side, symbol),
            symbol=symbol,
            side=maker_side,
            order_type=OrderType.LIMIT,
            qty=maker_qty,
            limit_price=bound + self.rng.randint(-1, 1) * TICK,
        )

    async def _sell_out(self) -> Operation:
        """An account sells all it has free of a symbol into the bids, the smallest
        holding most often: a position that trades down to zero resets its average price."""
        holdings = [h for h in await self._holdings() if h[3] >= 1]
        if not holdings:
            return await self._limit()
        smallest = min(holdings, key=lambda h: (h[3], h[0], h[1]))
        account_id, symbol, _qty, free = (
            smallest if self.rng.random() < 0.5 else self.rng.choice(holdings)
        )
        return self._place(
            account_id,
            symbol=symbol,
            side=Side.SELL,
            order_type=OrderType.LIMIT,
            qty=free,
            limit_price=CENTER[symbol] - Decimal("0.70"),
            time_in_force=self.rng.choice((TimeInForce.GTC, TimeInForce.IOC)),
        )

    async def _cancel(self) -> Operation:
        open_orders = [o for o in await self._orders() if o.is_open]
        if not open_orders:
            return await self._limit()
        order = self.rng.choice(open_orders)
        return Cancel(order.account_id, order.id)

    async def _cancel_closed(self) -> Operation:
        closed = [o for o in await self._orders() if not o.is_open]
        if not closed:
            return await self._limit()
        order = self.rng.choice(closed)
        return Cancel(order.account_id, order.id)

    async def _cancel_foreign(self) -> Operation:
        orders = await self._orders()
        if not orders:
            return await self._limit()
        order = self.rng.choice(orders)
        other = self.rng.choice([a for a in self.account_ids if a != order.account_id])
        return Cancel(other, order.id)

    async def _holdings(self) -> list[tuple[int, str, Decimal, Decimal]]:
        """(account, symbol, qty, qty not reserved) of the traders' positions, by id."""
        positions, instruments = sql.positions, sql.instruments
        query = (
            select(
                positions.c.account_id,
                instruments.c.symbol,
                positions.c.qty,
                positions.c.qty - positions.c.reserved_qty,
            )
            .join(instruments, instruments.c.id == positions.c.instrument_id)
            .where(
                positions.c.account_id.in_(self.account_ids),
                instruments.c.symbol.in_(sorted(CENTER)),
            )
            .order_by(positions.c.id)
        )
        async with self.reference.read_sessions() as session:
            return [(row[0], row[1], row[2], row[3]) for row in await session.execute(query)]

    async def _orders(self) -> list[Resting]:
        query = (
            select(
                sql.orders.c.id,
                sql.orders.c.account_id,
                sql.instruments.c.symbol,
                sql.orders.c.side,
                sql.orders.c.limit_price,
                (sql.orders.c.qty - sql.orders.c.filled_qty).label("remaining"),
                sql.orders.c.status.in_(OPEN_STATUS_VALUES).label("is_open"),
            )
            .join(sql.instruments, sql.instruments.c.id == sql.orders.c.instrument_id)
            .where(sql.orders.c.account_id.in_(self.account_ids))
            .order_by(sql.orders.c.id)
        )
        async with self.reference.read_sessions() as session:
            rows = await session.execute(query)
            return [Resting(*row) for row in rows]


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture
def second_pg_url(pg_template: str) -> Iterator[str]:
    """A second private PostgreSQL database copied from the template (``pg_url`` is the first)."""
    with backends.throwaway_database("trading_it", pg_template) as url:
        yield url


@pytest.fixture
async def venues(pg_url: str, second_pg_url: str) -> AsyncIterator[tuple[Venue, Venue]]:
    """A: the Python path on one database; B: the database function on the other."""
    a = Venue("A (Python)", Database(pg_url), in_database=False)
    b = Venue("B (the functions)", Database(second_pg_url), in_database=True)
    try:
        yield a, b
    finally:
        await a.database.dispose()
        await b.database.dispose()


async def seed_traders(venues: Sequence[Venue]) -> list[int]:
    """Register, fund and stock :data:`TRADERS` on every venue alike; their account ids."""
    ids: list[list[int]] = [[] for _ in venues]
    for trader in TRADERS:
        for index, venue in enumerate(venues):
            sessions = venue.database.sessions
            _user, account = await accounts.register(sessions, trader.email, PASSWORD)
            ids[index].append(account.id)
            await accounts.deposit(sessions, account.id, trader.cash, "agree seed")
            for symbol, (lots, cost) in sorted(trader.holdings.items()):
                await accounts.transfer_in(sessions, account.id, symbol, Decimal(lots), cost)
    assert all(venue_ids == ids[0] for venue_ids in ids)
    return ids[0]


# -- tests ------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
async def test_both_order_paths_leave_the_same_state(
    venues: tuple[Venue, Venue], seed: int
) -> None:
    account_ids = await seed_traders(venues)
    await assert_same_state(venues, f"seed {seed}, after seeding")
    scenario = Scenario(seed, account_ids, venues[0].database)
    for step in range(OPERATIONS):
        operation = await scenario.next()
        context = f"seed {seed}, operation {step} {operation}"
        outcomes = []
        for venue in venues:
            try:
                outcomes.append(await perform(operation, venue))
            except Exception as error:
                raise AssertionError(f"{context} on {venue.name}: {error!r}") from error
        difference = outcome_difference(*outcomes)
        assert difference is None, f"{context}: outcomes differ, {difference}"
        await assert_same_state(venues, context)
    for venue in venues:
        async with venue.database.read_sessions() as session:
            assert await check_invariants(session) == [], venue.name


async def test_the_state_comparison_names_the_first_difference(
    venues: tuple[Venue, Venue],
) -> None:
    account_ids = await seed_traders(venues)
    a, b = venues
    assert first_difference(await snapshot(a.database), await snapshot(b.database)) is None
    target = account_ids[2]
    async with b.database.sessions() as session, session.begin():
        await session.execute(
            update(sql.accounts)
            .where(sql.accounts.c.id == target)
            .values(cash=sql.accounts.c.cash + Decimal("0.01"))
        )

    difference = first_difference(await snapshot(a.database), await snapshot(b.database))

    assert difference is not None
    assert (difference.table, difference.row_id, difference.column) == ("accounts", target, "cash")
    assert difference.b - difference.a == Decimal("0.01")
    with pytest.raises(AssertionError, match=rf"accounts id={target} column cash"):
        await assert_same_state(venues, "after the raw update")
