"""The in-memory order book: each side stays in exact price-time priority, and an incoming
order trades with the crossing prefix of the opposite side only."""

from __future__ import annotations

import random
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.book import OrderBook
from app.domain.enums import OrderType, Side, TimeInForce
from app.domain.matching import IncomingOrder, RestingOrder, match, priority_key, still_resting


def limit(order_id: int, side: Side, price: int, qty: int = 1) -> IncomingOrder:
    return IncomingOrder(
        order_id, order_id % 5, side, OrderType.LIMIT, TimeInForce.GTC, Decimal(qty), Decimal(price)
    )


def keys(orders: list[RestingOrder]) -> list[tuple[Decimal, int]]:
    return [priority_key(o.side, o.price, o.order_id) for o in orders]


class ReferenceBook:
    """The book as first written: every submit matches against the whole opposite side,
    and a remainder is placed by re-sorting -- slow, obviously right. What a match leaves
    of the makers and of the order is the domain's own (:func:`still_resting`,
    :meth:`IncomingOrder.resting`): the book differs only in what it searches and how."""

    def __init__(self) -> None:
        self.sides: dict[Side, list[RestingOrder]] = {Side.BUY: [], Side.SELL: []}

    def submit(self, order: IncomingOrder) -> None:
        makers = self.sides[order.side.opposite]
        result = match(order, makers)
        makers[:] = still_resting(makers, result)
        if result.rests:
            own = self.sides[order.side]
            own.append(order.resting(result.remaining))
            own.sort(key=lambda o: priority_key(o.side, o.price, o.order_id))


def test_shuffled_inserts_rest_in_price_time_priority() -> None:
    prices = [100 + (i * 7) % 13 for i in range(300)]  # many orders share a price
    arrivals = list(enumerate(prices, start=1))
    random.Random(13).shuffle(arrivals)
    book = OrderBook()
    for order_id, price in arrivals:
        book.submit(limit(order_id, Side.BUY, price))
        book.submit(limit(1000 + order_id, Side.SELL, price + 20))

    for side in Side:
        assert keys(book.side(side)) == sorted(keys(book.side(side)))
        assert len(book.side(side)) == 300
    best_bids = [o.order_id for o in book.bids if o.price == book.bids[0].price]
    assert best_bids == sorted(best_bids), "time priority within the best level"


def test_an_order_trades_only_with_the_crossing_prefix() -> None:
    book = OrderBook()
    for order_id, price in enumerate([103, 101, 102, 101, 105], start=1):
        book.submit(limit(order_id, Side.SELL, price, qty=2))
    untouched = book.asks[3:]

    result = book.submit(limit(10, Side.BUY, 102, qty=5))

    assert [(e.maker_order_id, e.qty) for e in result.executions] == [
        (2, Decimal(2)),
        (4, Decimal(2)),
        (3, Decimal(1)),
    ]
    assert [(o.order_id, o.remaining) for o in book.asks] == [
        (3, Decimal(1)),
        (1, Decimal(2)),
        (5, Decimal(2)),
    ]
    assert book.asks[1:] == untouched
    assert book.bids == []


orders = st.lists(
    st.tuples(
        st.sampled_from(Side),
        st.integers(min_value=95, max_value=105),
        st.integers(min_value=1, max_value=9),
    ),
    max_size=60,
)


@given(orders)
@settings(max_examples=200, deadline=None)
def test_the_book_matches_the_reference_exactly(arrivals: list[tuple[Side, int, int]]) -> None:
    book, reference = OrderBook(), ReferenceBook()
    for order_id, (side, price, qty) in enumerate(arrivals, start=1):
        order = limit(order_id, side, price, qty)
        book.submit(order)
        reference.submit(order)
        assert book.bids == reference.sides[Side.BUY]
        assert book.asks == reference.sides[Side.SELL]
