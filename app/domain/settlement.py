"""Settling a match, as a pure function over small values.

:func:`settle` takes what :func:`app.domain.matching.match` decided for one
incoming (taker) order and the state of everything it touches -- the resting
(maker) orders it traded with, the cash balances and the holdings of every
party -- and returns their new state. Each trade prints at the resting price:
cash moves from buyer to seller and the instrument from seller to buyer, the
buyer's average price and the seller's realized P&L follow, and reservations
are released as orders fill. Nothing is created or destroyed: the sum of cash
and the sum of holdings are the same before and after.

The service reads these values from locked rows and writes the result back
(:mod:`app.services.orders`); the unit tests drive the function directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal

from app.domain.enums import OrderStatus, Side
from app.domain.lifecycle import transition
from app.domain.matching import Execution, MatchResult
from app.domain.risk import average_price, notional, realized

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Balance:
    """An account's cash and the part of it that open buy orders reserve."""

    cash: Decimal
    reserved_cash: Decimal


@dataclass(frozen=True, slots=True)
class Holding:
    """An account's position in the traded instrument."""

    qty: Decimal
    reserved_qty: Decimal
    avg_price: Decimal
    realized_pnl: Decimal


@dataclass(frozen=True, slots=True)
class OrderState:
    """How far an order has filled and what it reserves.

    ``reserve_price`` is the price a buy order reserves cash at: its limit
    price, or for a market order the collar it may trade up to.
    """

    account_id: int
    side: Side
    qty: Decimal
    reserve_price: Decimal
    filled_qty: Decimal
    filled_notional: Decimal
    reserved_cash: Decimal
    status: OrderStatus

    @property
    def remaining(self) -> Decimal:
        """The quantity still to fill."""
        return self.qty - self.filled_qty


@dataclass(frozen=True, slots=True)
class Settlement:
    """The new state of the taker, of each maker that traded, and of every party."""

    taker: OrderState
    makers: dict[int, OrderState]
    balances: dict[int, Balance]
    holdings: dict[int, Holding]


def settle(
    taker: OrderState,
    result: MatchResult,
    makers: Mapping[int, OrderState],
    balances: Mapping[int, Balance],
    holdings: Mapping[int, Holding],
) -> Settlement:
    """Apply ``result`` to ``taker`` and to every party it traded with.

    ``taker`` is the incoming order as it stood before matching: new, nothing
    filled, nothing reserved. ``makers`` are keyed by order id, ``balances``
    and ``holdings`` by account id, and hold every order and account that
    ``result`` names. The inputs are not changed.
    """
    parties = _Parties(dict(balances), dict(holdings))
    resting = dict(makers)
    settled_taker = _fill_taker(taker, result)
    if taker.side is Side.BUY:
        parties.reserve_cash(taker.account_id, settled_taker.reserved_cash)
    elif result.rests:
        parties.reserve_qty(taker.account_id, result.remaining)
    for execution in result.executions:
        maker = resting[execution.maker_order_id]
        buyer, seller = (
            (taker.account_id, maker.account_id)
            if taker.side is Side.BUY
            else (maker.account_id, taker.account_id)
        )
        parties.trade(buyer, seller, execution.price, execution.qty)
        resting[execution.maker_order_id] = _fill_maker(maker, execution, parties)
    traded = {e.maker_order_id: resting[e.maker_order_id] for e in result.executions}
    return Settlement(settled_taker, traded, parties.cash, parties.held)


@dataclass(slots=True)
class _Parties:
    """The balances and holdings of every party while a match settles, by account id."""

    cash: dict[int, Balance]
    held: dict[int, Holding]

    def reserve_cash(self, account: int, amount: Decimal) -> None:
        """Reserve ``amount`` more of the account's cash (less, when negative)."""
        balance = self.cash[account]
        self.cash[account] = replace(balance, reserved_cash=balance.reserved_cash + amount)

    def reserve_qty(self, account: int, qty: Decimal) -> None:
        """Reserve ``qty`` more of the account's holding (less, when negative)."""
        holding = self.held[account]
        self.held[account] = replace(holding, reserved_qty=holding.reserved_qty + qty)

    def trade(self, buyer: int, seller: int, price: Decimal, qty: Decimal) -> None:
        """Move cash to the seller and the instrument to the buyer (one may be the other)."""
        amount = notional(price, qty)
        self.cash[buyer] = replace(self.cash[buyer], cash=self.cash[buyer].cash - amount)
        self.cash[seller] = replace(self.cash[seller], cash=self.cash[seller].cash + amount)
        bought = self.held[buyer]
        self.held[buyer] = replace(
            bought,
            avg_price=average_price(bought.qty, bought.avg_price, qty, price),
            qty=bought.qty + qty,
        )
        sold = self.held[seller]
        left = sold.qty - qty
        self.held[seller] = replace(
            sold,
            realized_pnl=sold.realized_pnl + realized(sold.avg_price, qty, price),
            qty=left,
            avg_price=ZERO if left == ZERO else sold.avg_price,
        )


def _fill_taker(taker: OrderState, result: MatchResult) -> OrderState:
    """The taker's fills and status; a resting buy reserves cash for its remainder."""
    reserved = (
        notional(taker.reserve_price, result.remaining)
        if taker.side is Side.BUY and result.rests
        else ZERO
    )
    return replace(
        taker,
        filled_qty=result.filled,
        filled_notional=sum((notional(e.price, e.qty) for e in result.executions), ZERO),
        reserved_cash=reserved,
        status=transition(taker.status, result.status),
    )


def _fill_maker(maker: OrderState, execution: Execution, parties: _Parties) -> OrderState:
    """The maker's fills and status; its fill releases what it reserved for that quantity."""
    filled = maker.filled_qty + execution.qty
    remaining = maker.qty - filled
    status = transition(
        maker.status, OrderStatus.FILLED if remaining == ZERO else OrderStatus.PARTIALLY_FILLED
    )
    reserved = maker.reserved_cash
    if maker.side is Side.BUY:
        reserved = notional(maker.reserve_price, remaining)
        parties.reserve_cash(maker.account_id, -(maker.reserved_cash - reserved))
    else:
        parties.reserve_qty(maker.account_id, -execution.qty)
    return replace(
        maker,
        filled_qty=filled,
        filled_notional=maker.filled_notional + notional(execution.price, execution.qty),
        reserved_cash=reserved,
        status=status,
    )
