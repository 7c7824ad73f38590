"""An in-memory order book driven by :func:`app.domain.matching.match`.

The service keeps its book in the database; this class is the same matching
logic over plain lists, for simulations, benchmarks and property-based tests.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from decimal import Decimal

from app.domain.enums import Side
from app.domain.matching import IncomingOrder, MatchResult, RestingOrder, match, priority_key


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
        result = match(order, makers)
        traded = {e.maker_order_id: e.qty for e in result.executions}
        kept: list[RestingOrder] = []
        for maker in makers:
            left = maker.remaining - traded.get(maker.order_id, Decimal(0))
            if left > 0:
                kept.append(
                    RestingOrder(maker.order_id, maker.account_id, maker.side, maker.price, left)
                )
        makers[:] = kept
        if result.rests:
            self._insert(
                RestingOrder(
                    order.order_id,
                    order.account_id,
                    order.side,
                    order.price_bound,
                    result.remaining,
                )
            )
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
        orders = self.side(order.side)
        keys = [priority_key(o.side, o.price, o.order_id) for o in orders]
        position = bisect.bisect(keys, priority_key(order.side, order.price, order.order_id))
        orders.insert(position, order)
