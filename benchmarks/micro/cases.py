"""The workloads the micro-benchmarks time and the instruction counts measure: one each.

Every case is built once (its inputs made up front) and returns the call to measure, so
``pytest-benchmark`` (the ``bench_*.py`` modules) and callgrind
(``count_instructions.py``) run exactly the same code. Inputs are fixed, never random:
the same case does the same work on every run and every commit.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from functools import partial
from typing import Protocol, TypeVar

from app.domain import risk
from app.domain.book import OrderBook
from app.domain.enums import OrderType, Side, TimeInForce
from app.domain.matching import IncomingOrder, MatchResult, RestingOrder, match
from app.services.orders import OrderRequest

T = TypeVar("T")
Workload = Callable[[], object]


class Benchmark(Protocol):
    """What pytest-benchmark's ``benchmark`` fixture is to a benchmark: it times calls of
    ``function`` and returns what one call returned."""

    def __call__(self, function: Callable[[], T]) -> T:
        """Time ``function``; its result."""


RESTING_COUNTS = (0, 10, 100, 1000)
BOOK_SIZE = 1000
TICK = Decimal("0.01")
RULES = risk.InstrumentRules("AAPL", tick_size=TICK, lot_size=Decimal(1), tradable=True)
COLLAR = Decimal("0.05")


def _asks(count: int) -> list[RestingOrder]:
    """``count`` asks of one lot, one tick apart from 100.00 up, best first."""
    return [
        RestingOrder(order_id, 9, Side.SELL, Decimal(100) + order_id * TICK, Decimal(1))
        for order_id in range(1, count + 1)
    ]


def matching(resting: int) -> Callable[[], MatchResult]:
    """A buy that sweeps ``resting`` asks -- as the service calls it: only the crossing
    orders, as many as the quantity needs; with none, the order rests."""
    asks = _asks(resting)
    taker = IncomingOrder(
        resting + 1,
        1,
        Side.BUY,
        OrderType.LIMIT,
        TimeInForce.GTC,
        Decimal(max(resting, 1)),
        Decimal(100) + (resting + 1) * TICK,
    )
    return partial(match, taker, asks)


def _approve(order_type: OrderType, limit_price: Decimal | None) -> risk.Approval:
    return risk.approve(
        side=Side.BUY,
        order_type=order_type,
        qty=Decimal(25),
        limit_price=limit_price,
        rules=RULES,
        buying_power=Decimal(1_000_000),
        available_qty=Decimal(0),
        reference_price=Decimal("187.42"),
        collar=COLLAR,
    )


def risk_check(order_type: OrderType) -> Callable[[], risk.Approval]:
    """The pre-trade check of a buy: on the grid, within buying power; a market order is
    collared around the reference price first."""
    price = Decimal("187.45") if order_type is OrderType.LIMIT else None
    return partial(_approve, order_type, price)


def _book_orders(count: int) -> list[IncomingOrder]:
    """``count`` limit orders that never cross: bids from 50 to 98, asks from 101 to 149,
    arriving in a scrambled price order so that each rests somewhere inside its side."""
    orders = []
    for order_id in range(1, count + 1):
        level = (order_id * 7919) % 49
        side = Side.BUY if order_id % 2 else Side.SELL
        price = Decimal(50 + level) if side is Side.BUY else Decimal(101 + level)
        orders.append(
            IncomingOrder(
                order_id,
                order_id % 16,
                side,
                OrderType.LIMIT,
                TimeInForce.GTC,
                Decimal(1 + order_id % 5),
                price,
            )
        )
    return orders


def _build(orders: list[IncomingOrder]) -> OrderBook:
    book = OrderBook()
    for order in orders:
        book.submit(order)
    return book


def book_building(count: int) -> Callable[[], OrderBook]:
    """A fresh book receiving ``count`` resting orders: the cost of its insert."""
    return partial(_build, _book_orders(count))


def fingerprint() -> Callable[[], str]:
    """The idempotency hash of an order request (a replayed client_order_id is checked
    against it)."""
    request = OrderRequest(
        "AAPL",
        Side.BUY,
        OrderType.LIMIT,
        Decimal("25"),
        Decimal("187.45"),
        TimeInForce.GTC,
        client_order_id="bench-0001",
    )
    return request.fingerprint


CASES: dict[str, Callable[[], Workload]] = {
    **{f"match[{count}]": partial(matching, count) for count in RESTING_COUNTS},
    "risk[limit]": partial(risk_check, OrderType.LIMIT),
    "risk[market]": partial(risk_check, OrderType.MARKET),
    f"book[{BOOK_SIZE}]": partial(book_building, BOOK_SIZE),
    "fingerprint": fingerprint,
}
"""Every case by name (the name the instruction counts are recorded under)."""
