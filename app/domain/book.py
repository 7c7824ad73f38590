"""An in-memory order book driven by :func:`app.domain.matching.match`.

The service keeps its book in the database; this class is the same matching
logic over plain lists, for simulations, benchmarks and property-based tests.
Each side is kept sorted by :func:`~app.domain.matching.priority_key`, so both
the orders an incoming order crosses (a prefix of the opposite side) and the
place where a remainder rests are found by binary search: building a book of
``n`` orders makes O(n log n) comparisons, not O(n²).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from decimal import Decimal

from app.domain.enums import Side
from app.domain.matching import (
    IncomingOrder,
    MatchResult,
    RestingOrder,
    crosses,
    match,
    priority_key,
    still_resting,
)


@dataclass
class OrderBook:
    """Bids and asks in price-time priority."""

    bids: list[RestingOrder] = field(default_factory=list)
    asks: list[RestingOrder] = field(default_factory=list)

    def side(self, side: Side) -> list[RestingOrder]:
        """The resting orders of one side, best first."""
        return self.bids if side is Side.BUY else self.asks

    def submit(self, order: IncomingOrder) -> MatchResult:
        """Match ``order``, consume what it traded, and rest its remainder if it rests."""
        makers = self.side(order.side.opposite)
        crossing = makers[: _crossing_count(order, makers)]
        result = match(order, crossing)
        makers[: len(crossing)] = still_resting(crossing, result)
        if result.rests:
            self._insert(order.resting(result.remaining))
        return result

    def cancel(self, order_id: int) -> RestingOrder | None:
        """Remove a resting order; returns it, or None if it is not resting."""
        for orders in (self.bids, self.asks):
            for index, order in enumerate(orders):
                if order.order_id == order_id:
                    return orders.pop(index)
        return None

    def best(self, side: Side) -> Decimal | None:
        """Best price on ``side``."""
        orders = self.side(side)
        return orders[0].price if orders else None

    def is_crossed(self) -> bool:
        """True if the best bid is at or above the best ask (must never happen)."""
        bid, ask = self.best(Side.BUY), self.best(Side.SELL)
        return bid is not None and ask is not None and bid >= ask

    def _insert(self, order: RestingOrder) -> None:
        bisect.insort(self.side(order.side), order, key=_priority)


def _priority(order: RestingOrder) -> tuple[Decimal, int]:
    return priority_key(order.side, order.price, order.order_id)


def _crossing_count(order: IncomingOrder, makers: list[RestingOrder]) -> int:
    """How many of ``makers`` (best first) ``order`` trades at: they form a prefix, since
    whether a price crosses changes once along a side sorted by price."""
    return bisect.bisect_left(
        makers, True, key=lambda maker: not crosses(order.side, order.price_bound, maker.price)
    )
