"""Price-time priority matching, as a pure function over the opposite side of a book.

The service loads the crossing resting orders from the database (under a
per-symbol lock), calls :func:`match`, and writes the result back. The same
function drives the in-memory :class:`app.domain.book.OrderBook` that the
property-based tests exercise, so both paths share one implementation.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from app.domain.enums import OrderStatus, OrderType, Side, TimeInForce

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class RestingOrder:
    """A maker order waiting on the book."""

    order_id: int
    account_id: int
    side: Side
    price: Decimal
    remaining: Decimal


@dataclass(frozen=True, slots=True)
class IncomingOrder:
    """A taker order; ``price_bound`` is the limit price or, for market orders, the collar."""

    order_id: int
    account_id: int
    side: Side
    order_type: OrderType
    time_in_force: TimeInForce
    qty: Decimal
    price_bound: Decimal

    def resting(self, remaining: Decimal) -> RestingOrder:
        """The order's remainder ``remaining`` as it rests, at its limit price."""
        return RestingOrder(self.order_id, self.account_id, self.side, self.price_bound, remaining)


@dataclass(frozen=True, slots=True)
class Execution:
    """One trade, printed at the resting order's price."""

    maker_order_id: int
    maker_account_id: int
    price: Decimal
    qty: Decimal


@dataclass(frozen=True, slots=True)
class MatchResult:
    """What matching did to the incoming order."""

    executions: tuple[Execution, ...]
    filled: Decimal
    remaining: Decimal
    status: OrderStatus
    rests: bool


def crosses(side: Side, price_bound: Decimal, resting_price: Decimal) -> bool:
    """Tell whether an order on ``side`` bounded by ``price_bound`` trades at ``resting_price``."""
    if side is Side.BUY:
        return resting_price <= price_bound
    return resting_price >= price_bound


def priority_key(side: Side, price: Decimal, order_id: int) -> tuple[Decimal, int]:
    """Sort key giving price-time priority for resting orders on ``side``."""
    return (-price if side is Side.BUY else price, order_id)


def _check_priority(resting: Sequence[RestingOrder], maker_side: Side) -> None:
    keys = [priority_key(maker_side, order.price, order.order_id) for order in resting]
    if keys != sorted(keys):
        raise ValueError("resting orders are not in price-time priority")


def match(incoming: IncomingOrder, resting: Iterable[RestingOrder]) -> MatchResult:
    """Match ``incoming`` against ``resting`` (best first) and report the outcome.

    Trades print at the resting price. IOC and market remainders expire; FOK
    trades only when the whole quantity can fill, else it expires untouched;
    a GTC limit remainder rests.
    """
    if incoming.qty <= ZERO:
        raise ValueError("incoming quantity must be positive")
    maker_side = incoming.side.opposite
    candidates = [
        order
        for order in resting
        if order.side is maker_side and crosses(incoming.side, incoming.price_bound, order.price)
    ]
    _check_priority(candidates, maker_side)

    if incoming.time_in_force is TimeInForce.FOK:
        available = sum((order.remaining for order in candidates), ZERO)
        if available < incoming.qty:
            return MatchResult((), ZERO, incoming.qty, OrderStatus.EXPIRED, rests=False)

    executions: list[Execution] = []
    remaining = incoming.qty
    for order in candidates:
        if remaining <= ZERO:
            break
        qty = min(remaining, order.remaining)
        if qty <= ZERO:
            continue
        executions.append(Execution(order.order_id, order.account_id, order.price, qty))
        remaining -= qty

    filled = incoming.qty - remaining
    return MatchResult(
        tuple(executions), filled, remaining, *_final_status(incoming, filled, remaining)
    )


def still_resting(makers: Iterable[RestingOrder], result: MatchResult) -> list[RestingOrder]:
    """``makers`` (in their order) less what ``result`` traded of them; the filled left out."""
    traded = {execution.maker_order_id: execution.qty for execution in result.executions}
    kept: list[RestingOrder] = []
    for maker in makers:
        left = maker.remaining - traded.get(maker.order_id, ZERO)
        if left > ZERO:
            kept.append(
                RestingOrder(maker.order_id, maker.account_id, maker.side, maker.price, left)
            )
    return kept


def _final_status(
    incoming: IncomingOrder, filled: Decimal, remaining: Decimal
) -> tuple[OrderStatus, bool]:
    if remaining == ZERO:
        return OrderStatus.FILLED, False
    rests = incoming.order_type is OrderType.LIMIT and incoming.time_in_force is TimeInForce.GTC
    if not rests:
        return OrderStatus.EXPIRED, False
    if filled > ZERO:
        return OrderStatus.PARTIALLY_FILLED, True
    return OrderStatus.NEW, True
